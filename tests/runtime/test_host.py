"""The runtime host: one start, one orderly stop, and operator state through the store."""

from __future__ import annotations

import asyncio
import time

import pytest

from axtui.clock import RealClock
from axtui.engine.control import drain
from axtui.engine.engine import RoutingError
from axtui.flags.ops import get_flag
from axtui.records import ErrorKind
from axtui.store.db import open_store
from tests.engine.scripted import Fail
from tests.flags.conftest import config_with, definition

from .conftest import ask, make_host, other_process


def test_stop_writes_every_queued_record_before_the_store_closes(url):
    # a 5 s flush interval: the records are still queued when stop() begins
    clock, host, _ = make_host(url, store={"flush_interval_s": 5})

    async def main():
        async with host:
            for i in range(50):
                await host.engine.complete(ask(f"u{i}"))
            assert host.stats().recorder.written == 0
        return host.stats()

    stats = clock.run(main())
    assert stats.state == "stopped"
    assert (stats.recorder.written, stats.recorder.queued, stats.recorder.dropped) == (50, 0, 0)
    assert len(other_process(url).recent_records(limit=100)) == 50


def test_a_process_recorder_also_writes_every_record_at_stop(url):
    clock, host, _ = make_host(url, recorder="process", store={"flush_interval_s": 5})

    async def main():
        async with host:
            for i in range(20):
                await host.engine.complete(ask(f"u{i}"))

    clock.run(main())
    assert len(other_process(url).recent_records(limit=100)) == 20


def test_stop_runs_in_order_sync_and_jobs_engine_events_recorder_store(url):
    clock, host, _ = make_host(url)
    order: list[str] = []

    def spy(name, fn):
        if asyncio.iscoroutinefunction(fn):
            async def wrapped(*a, **kw):
                order.append(name)
                return await fn(*a, **kw)
        else:
            def wrapped(*a, **kw):
                order.append(name)
                return fn(*a, **kw)
        return wrapped

    async def main():
        await host.start()
        host.add_job("noop", 60, lambda now: None)
        host.sync.stop = spy("sync", host.sync.stop)
        for job in host._jobs.values():
            job.stop = spy(f"job {job.name}", job.stop)
        host.engine.aclose = spy("engine", host.engine.aclose)
        host.events.stop = spy("events", host.events.stop)
        host.recorder.close = spy("recorder", host.recorder.close)
        host.store.close = spy("store", host.store.close)
        await host.stop()

    clock.run(main())
    assert order == ["sync", "job retention", "job cost-fold", "job heartbeat", "job noop",
                     "engine", "events", "recorder", "store"]


def test_engine_events_reach_the_store_through_the_event_writer(url):
    clock, host, providers = make_host(url)
    seen = []
    host.subscribe_events(seen.append)

    async def main():
        async with host:
            providers["a"].then("cheap", *[Fail(ErrorKind.server)] * 10)
            for i in range(6):
                await host.engine.complete(ask(f"u{i}"))

    clock.run(main())
    breaker = [e for e in seen if e.kind == "breaker"]
    assert breaker and breaker[0].subject == "a/cheap" and breaker[0].detail["to"] == "open"
    stored = other_process(url).events(kind="breaker")
    assert [(e.subject, e.detail["to"]) for e in stored] == [
        (e.subject, e.detail["to"]) for e in reversed(breaker)]
    assert host.stats().events.written >= len(breaker)


def test_a_drain_from_the_host_applies_at_once_and_survives_the_next_poll(url):
    clock, host, providers = make_host(url)

    async def main():
        async with host:
            assert (await host.engine.complete(ask())).record.deployment == "a/cheap"
            await host.drain("a/cheap", "bad output", by="oncall")
            # no poll has run yet: the host applied the store's state after its own write
            assert host.engine.deployments["a/cheap"].drained == "bad output"
            assert (await host.engine.complete(ask())).record.deployment == "b/mid"
            await asyncio.sleep(host.control_poll_s * 5)  # several polls
            assert await host.refresh_control() is False  # nothing newer in the store
            assert host.engine.deployments["a/cheap"].drained == "bad output"
            assert (await host.engine.complete(ask())).record.deployment == "b/mid"
            assert await host.undrain("a/cheap", by="oncall") is True
            assert host.engine.deployments["a/cheap"].drained is None

    clock.run(main())
    assert [e.kind for e in other_process(url).events(subject="a/cheap")] == [
        "undrain", "drain"]


def test_a_drain_of_an_unknown_deployment_is_refused_naming_the_known_ones(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            with pytest.raises(ValueError, match="unknown deployment 'z/zz'.*a/cheap"):
                await host.drain("z/zz", "typo", by="oncall")

    clock.run(main())


def test_a_drain_written_by_another_process_reaches_the_host_within_a_poll(url):
    _, host, _ = make_host(url, clock=RealClock())  # operators act in real time

    async def main():
        async with host:
            drain(other_process(url), "a/cheap", "from the CLI", by="oncall")
            written = time.monotonic()
            while host.engine.deployments["a/cheap"].drained is None:
                assert time.monotonic() - written < 5, "the drain never arrived"
                await asyncio.sleep(0.01)
            return time.monotonic() - written

    took = asyncio.run(main())
    assert took < 1.0  # polls every 0.1 s; generous for a loaded machine


def test_a_poll_that_read_an_older_snapshot_cannot_undo_a_newer_one(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            stale = host.store.control_snapshot()  # what a slow poll read before the drain
            await host.drain("a/cheap", "bad output", by="oncall")
            assert host.sync.apply(stale) is False
            assert host.engine.deployments["a/cheap"].drained == "bad output"

    clock.run(main())


def test_a_flag_kill_through_the_host_applies_at_once(url):
    clock, host, _ = make_host(url, config=config_with(to_dear=definition(pct=100)))

    async def main():
        async with host:
            assert (await host.engine.complete(ask())).record.flags["to_dear"] != "off"
            await host.change_flag("to_dear", action="kill", by="oncall", reason="bad")
            assert (await host.engine.complete(ask())).record.flags["to_dear"] == "off"

    clock.run(main())
    state, _ = get_flag(open_store(url), "to_dear")
    assert state.killed


def test_a_host_with_everything_drained_refuses_with_the_reasons(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            for dep in ("a/cheap", "b/mid", "c/dear"):
                await host.drain(dep, "maintenance", by="oncall")
            with pytest.raises(RoutingError) as err:
                await host.engine.complete(ask())
            return err.value

    err = clock.run(main())
    assert err.kind is ErrorKind.no_candidates
    assert "drained: maintenance" in err.record.error


def test_record_subscribers_see_every_record_and_can_unsubscribe(url):
    clock, host, _ = make_host(url)
    seen = []
    unsubscribe = host.subscribe_records(seen.append)  # before start: attached at start

    async def main():
        async with host:
            await host.engine.complete(ask())
            unsubscribe()
            await host.engine.complete(ask())

    clock.run(main())
    assert len(seen) == 1
    assert len(other_process(url).recent_records()) == 2


def test_a_read_only_host_writes_nothing_but_follows_the_control_plane(url):
    operator = open_store(url)
    drain(operator, "a/cheap", "maintenance", by="oncall")
    version = operator.control_version()
    clock, host, _ = make_host(url, read_only=True)

    async def main():
        async with host:
            assert (await host.engine.complete(ask())).record.deployment == "b/mid"
            return host.stats()

    stats = clock.run(main())
    assert stats.recorder is None and stats.events is None and stats.jobs == ()
    assert operator.recent_records() == []
    assert operator.control_version() == version  # no flags seeded either


def test_a_host_starts_once(url):
    clock, host, _ = make_host(url)

    async def main():
        async with host:
            with pytest.raises(RuntimeError, match="starts once"):
                await host.start()

    clock.run(main())


def test_a_failed_start_closes_what_it_opened(url, monkeypatch):
    def broken_seed(*a, **kw):
        raise RuntimeError("the store refused the flags")

    monkeypatch.setattr("axtui.flags.ops.seed", broken_seed)
    clock, host, _ = make_host(url)

    async def main():
        with pytest.raises(RuntimeError, match="refused the flags"):
            await host.start()

    clock.run(main())
    assert host.state == "stopped"
    assert host.recorder is not None and host.recorder.submit(None) is False  # closed
