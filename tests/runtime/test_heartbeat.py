"""Each host publishes its live engine state to `process_status` for processes that attach."""

from __future__ import annotations

import asyncio
import time

from axtui.store.process_status import read_process_states

from .conftest import make_host, other_process


def states(url: str, now: float | None = None):
    with other_process(url).connect() as conn:
        return read_process_states(conn, time.time() if now is None else now)


def test_a_running_host_has_a_heartbeat_row_readable_from_another_connection(url):
    clock, host, _ = make_host(url, face="serve")

    async def main():
        async with host:
            await host.drain("b/mid", "slow answers", by="oncall")
            await host.publish_status()
            return states(url)

    (st,) = clock.run(main())
    assert (st.process_id, st.face) == (host.process_id, "serve")
    assert not st.stale and st.problem is None and st.age_s < 5
    deps = {d.deployment: d for d in st.live.deployments}
    assert sorted(deps) == ["a/cheap", "b/mid", "c/dear"]
    assert (deps["b/mid"].drained, deps["b/mid"].drained_reason) == (True, "slow answers")
    assert deps["a/cheap"].breaker == "closed" and deps["a/cheap"].headroom == 1.0
    assert st.live.recorder is not None and st.live.recorder.dropped == 0


def test_a_heartbeat_names_each_route_that_can_serve_nothing(url):
    clock, host, _ = make_host(url, face="serve")

    async def main():
        async with host:
            for dep in ("a/cheap", "b/mid", "c/dear"):
                await host.drain(dep, "maintenance", by="oncall")
            await host.publish_status()
            return states(url)

    (st,) = clock.run(main())
    assert st.live.unservable == {"chat": "every deployment out: 3 drained"}


def test_the_row_is_gone_after_an_orderly_stop(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            assert [s.process_id for s in states(url)] == [host.process_id]

    clock.run(main())
    assert states(url) == []


def test_a_heartbeat_not_renewed_reads_as_stale(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            return states(url, now=time.time() + 60)

    (st,) = clock.run(main())
    assert st.stale and st.age_s > 55


def test_a_heartbeat_does_not_move_the_control_version(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            before = host.store.control_version()
            for _ in range(3):
                await host.publish_status()
            return before, host.store.control_version()

    before, after = clock.run(main())
    assert before == after


def test_two_hosts_on_one_store_each_publish_their_own_row(url):
    clock, first, _ = make_host(url, face="serve")
    _, second, _ = make_host(url, clock=clock, face="route")

    async def main():
        async with first, second:
            return states(url)

    found = clock.run(main())
    assert sorted(s.face for s in found) == ["route", "serve"]
    assert states(url) == []


def test_a_real_clock_host_renews_its_heartbeat_at_its_interval(url):
    from axtui.clock import RealClock

    _, host, _ = make_host(url, clock=RealClock(), heartbeat_s=0.05)

    async def main():
        async with host:
            (first,) = states(url)
            deadline = time.monotonic() + 5
            while (now := states(url)[0]).updated_at == first.updated_at:
                assert time.monotonic() < deadline, "the heartbeat was not renewed"
                await asyncio.sleep(0.01)
            return first, now

    first, later = asyncio.run(main())
    assert later.updated_at > first.updated_at


def test_a_starting_host_removes_rows_of_processes_silent_for_an_hour(url):
    from axtui.store.process_status import LiveState, write_process_status

    with other_process(url).begin() as conn:
        for pid, age in ((1, 4000.0), (2, 30.0)):
            write_process_status(conn, process_id=f"serve-old-{pid}", face="serve",
                                 host="old", pid=pid, started_at=0.0,
                                 updated_at=time.time() - age, live=LiveState())
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            return states(url)

    found = clock.run(main())
    assert sorted(s.process_id for s in found) == sorted([host.process_id, "serve-old-2"])
    assert next(s for s in found if s.process_id == "serve-old-2").stale


def test_a_heartbeat_carries_each_quota_scope_and_where_its_callers_stand(url):
    from tests.engine.conftest import make_config

    from .conftest import ask

    config = make_config(quotas={"per_user": {"rpm": 10, "spend_day_usd": "5"},
                                 "global": {"rpm": 60},
                                 "per_route": {"chat": {"tpm": 100000}}})
    clock, host, _ = make_host(url, config=config, face="serve")

    async def main():
        async with host:
            for user in ("u1", "u1", "u1", "u2"):
                await host.engine.complete(ask(user))
            await host.publish_status()
            return states(url)

    (st,) = clock.run(main())
    quotas = st.live.quotas
    assert quotas is not None and not quotas.shared and quotas.note is None
    assert [(s.scope, s.who) for s in quotas.scopes] == [
        ("user", None), ("route", "chat"), ("global", "*")]
    user, route, everyone = quotas.scopes
    assert (user.rpm, user.spend_day_usd, user.callers) == (10, "5", 2)
    busiest = user.top[0]  # the busiest caller first
    assert busiest.who == "u1" and busiest.rpm.limit == 10 and busiest.rpm.remaining == 7
    assert busiest.spend.limit_nano == 5_000_000_000 and busiest.spend.spent_nano > 0
    assert busiest.spend.remaining_nano == 5_000_000_000 - busiest.spend.spent_nano
    assert [u.who for u in user.top] == ["u1", "u2"]
    assert route.top[0].tpm.used > 0 and route.top[0].rpm is None
    assert (everyone.rpm, everyone.top[0].rpm.remaining) == (60, 56)


def test_an_engine_without_quotas_reports_none_configured(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            await host.publish_status()
            return states(url)

    (st,) = clock.run(main())
    assert st.live.quotas is not None and st.live.quotas.scopes == ()


def test_the_demo_engine_reports_its_per_user_and_global_quotas(url):
    from axtui.config import load_config

    clock, host, _ = make_host(url, config=load_config())

    async def main():
        async with host:
            await host.publish_status()
            return states(url)

    (st,) = clock.run(main())
    assert [(s.scope, s.rpm) for s in st.live.quotas.scopes] == [("user", 600),
                                                                 ("global", 6000)]
    assert st.live.quotas.scopes[1].top[0].rpm.remaining == 6000
