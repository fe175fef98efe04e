"""Flags in the engine: each effect on routing for the cohort only, recorded in the
request's record, applied from the control plane, overridable from the environment."""

from __future__ import annotations

import pytest

from axtui.clock import VirtualClock
from axtui.engine.engine import Engine, RoutingError
from axtui.flags.bucketing import in_cohort
from axtui.flags.ops import change, seed
from axtui.providers.base import ChatRequest
from axtui.records import ErrorKind
from tests.engine.conftest import make_config
from tests.engine.drains import apply_drains
from tests.engine.scripted import Fail, ScriptedProvider

from .conftest import config_with, definition

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def user(salt: str, pct: float, inside: bool) -> str:
    return next(f"user-{i}" for i in range(10_000)
                if in_cohort(salt, f"user-{i}", round(pct * 10)) is inside)


def engine_for(cfg, clock=None):
    clock = clock or VirtualClock()
    providers = {n: ScriptedProvider(n, clock) for n in cfg.providers}
    return clock, Engine(cfg, clock=clock, providers=providers, seed=1), providers


def ask(who: str | None, **kw) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}], model="chat", user=who,
                       **kw)


def test_a_split_sends_the_cohort_first_to_its_deployment_and_nobody_else():
    cfg = config_with(to_dear=definition(pct=50))
    clock, eng, _ = engine_for(cfg)
    inside, outside = user("to_dear", 50, True), user("to_dear", 50, False)
    r_in = clock.run(eng.complete(ask(inside))).record
    r_out = clock.run(eng.complete(ask(outside))).record
    assert (r_in.deployment, r_in.flags) == ("c/dear", {"to_dear": "on"})
    assert "flag to_dear → c/dear" in r_in.reason
    assert (r_out.deployment, r_out.flags) == ("a/cheap", {"to_dear": "off"})


def test_a_split_keeps_the_routes_failover_behind_its_deployment():
    cfg = config_with(to_dear=definition(pct=50))
    clock, eng, providers = engine_for(cfg)
    providers["c"].then("dear", Fail(ErrorKind.server))
    r = clock.run(eng.complete(ask(user("to_dear", 50, True)))).record
    assert [a.deployment for a in r.attempts] == ["c/dear", "a/cheap"]
    assert r.deployment == "a/cheap" and r.flags == {"to_dear": "on"}


def test_a_split_can_send_the_cohort_to_a_deployment_the_route_does_not_list():
    cfg = make_config(
        routes={"chat": {"candidates": ["a/cheap", "b/mid"], "strategy": "cost"}},
        flags={"try_dear": definition(pct=100).model_dump(mode="json", exclude_none=True)})
    clock, eng, _ = engine_for(cfg)
    assert clock.run(eng.complete(ask("anyone"))).record.deployment == "c/dear"


def test_a_force_sends_the_cohort_only_to_its_deployment_without_failover():
    cfg = config_with(only_mid=definition(
        pct=100, effect={"kind": "force", "route": "chat", "deployment": "b/mid"}))
    clock, eng, providers = engine_for(cfg)
    assert clock.run(eng.complete(ask("u1"))).record.deployment == "b/mid"
    providers["b"].then("mid", Fail(ErrorKind.server), Fail(ErrorKind.server),
                        Fail(ErrorKind.server))
    with pytest.raises(RoutingError) as err:
        clock.run(eng.complete(ask("u1")))
    assert {a.deployment for a in err.value.record.attempts} == {"b/mid"}


def test_a_force_to_a_drained_deployment_leaves_nothing_and_says_why():
    cfg = config_with(only_mid=definition(
        pct=100, effect={"kind": "force", "route": "chat", "deployment": "b/mid"}))
    clock, eng, _ = engine_for(cfg)
    apply_drains(eng, {"b/mid": "bad answers"})
    with pytest.raises(RoutingError) as err:
        clock.run(eng.complete(ask("u1")))
    assert err.value.kind is ErrorKind.no_candidates
    assert "flag only_mid: drained: bad answers" in err.value.record.error


def test_a_capability_grant_makes_a_deployment_a_candidate_for_the_cohort_only():
    cfg = config_with(cheap_tools=definition(
        pct=50, effect={"kind": "capability", "deployment": "a/cheap", "capability": "tools"}))
    clock, eng, _ = engine_for(cfg)
    inside, outside = user("cheap_tools", 50, True), user("cheap_tools", 50, False)
    for _ in range(2):  # the second round reads eligibility from the cache: still per cohort
        r_in = clock.run(eng.complete(ask(inside, tools=TOOLS))).record
        r_out = clock.run(eng.complete(ask(outside, tools=TOOLS))).record
        assert (r_in.deployment, r_in.flags) == ("a/cheap", {"cheap_tools": "on"})
        assert (r_out.deployment, r_out.flags) == ("b/mid", {"cheap_tools": "off"})


def test_a_capability_flag_is_not_evaluated_for_requests_that_do_not_need_it():
    cfg = config_with(cheap_tools=definition(
        pct=50, effect={"kind": "capability", "deployment": "a/cheap", "capability": "tools"}))
    clock, eng, _ = engine_for(cfg)
    r = clock.run(eng.complete(ask(user("cheap_tools", 50, True)))).record
    assert r.flags == {} and r.deployment == "a/cheap"


async def _stream(eng, req):
    s = eng.stream(req)
    async for _ in s:
        pass
    return s.record


def test_streams_follow_the_flags_too():
    cfg = config_with(to_dear=definition(pct=50))
    clock, eng, _ = engine_for(cfg)
    r = clock.run(_stream(eng, ask(user("to_dear", 50, True))))
    assert (r.deployment, r.flags) == ("c/dear", {"to_dear": "on"})


def test_weighted_variants_are_recorded_by_name_and_route_to_their_deployment():
    cfg = config_with(arms=definition(pct=100, effect={
        "kind": "split", "route": "chat",
        "variants": [{"name": "mid", "deployment": "b/mid", "weight": 1},
                     {"name": "dear", "deployment": "c/dear", "weight": 1}]}))
    clock, eng, _ = engine_for(cfg)
    seen = {}
    for i in range(40):
        r = clock.run(eng.complete(ask(f"user-{i}"))).record
        seen[r.flags["arms"]] = r.deployment
    assert seen == {"mid": "b/mid", "dear": "c/dear"}


def test_a_request_without_user_or_key_is_bucketed_per_request_and_counted():
    cfg = config_with(to_dear=definition(pct=50))
    clock, eng, _ = engine_for(cfg)
    variants = {clock.run(eng.complete(ask(None))).record.flags["to_dear"] for _ in range(30)}
    assert variants == {"on", "off"}
    assert eng.flag_counts["per_request"] == 30
    clock.run(eng.complete(ask("alice")))
    assert eng.flag_counts["per_request"] == 30


def test_the_key_is_the_unit_when_there_is_no_user():
    from axtui.engine.engine import RequestContext

    cfg = config_with(to_dear=definition(pct=50))
    clock, eng, _ = engine_for(cfg)
    key = user("to_dear", 50, True)  # the same hash whichever id it is
    for _ in range(5):
        r = clock.run(eng.complete(ask(None), RequestContext(key_id=key))).record
        assert r.flags == {"to_dear": "on"}
    assert eng.flag_counts["per_request"] == 0


def test_the_control_plane_replaces_the_configured_state(store, clock):
    cfg = config_with(to_dear=definition(pct=100))
    _, eng, _ = engine_for(cfg, clock)
    assert clock.run(eng.complete(ask("u1"))).record.deployment == "c/dear"
    seed(store, cfg)
    change(store, "to_dear", action="kill", by="oncall", reason="errors")
    eng.apply_control(store.control_snapshot())
    r = clock.run(eng.complete(ask("u1"))).record
    assert (r.deployment, r.flags) == ("a/cheap", {"to_dear": "off"})


def test_a_flag_this_engine_cannot_apply_is_skipped_not_fatal(store, clock):
    from axtui.flags.model import FlagState, control_key

    cfg = config_with()
    _, eng, _ = engine_for(cfg, clock)
    bad = FlagState.seeded("elsewhere", definition(pct=100, effect={
        "kind": "split", "route": "chat", "deployment": "z/other"}), by="t", now=clock.now())
    store.set_control(control_key("elsewhere"), bad.model_dump(mode="json"), by="t")
    store.set_control("flag:garbage", {"not": "a flag"}, by="t")
    eng.apply_control(store.control_snapshot())
    assert any("z/other" in p for p in eng.flags.problems)
    assert any("flag:garbage" in p for p in eng.flags.problems)
    assert clock.run(eng.complete(ask("u1"))).record.deployment == "a/cheap"


@pytest.mark.parametrize(("value", "variant", "deployment"), [
    ("on", "on(env)", "c/dear"), ("off", "off(env)", "a/cheap"), ("100", "on(env)", "c/dear"),
])
def test_an_environment_override_wins_and_is_marked(monkeypatch, value, variant, deployment):
    monkeypatch.setenv("AXTUI_FLAG_TO_DEAR", value)
    cfg = config_with(to_dear=definition(pct=0 if value != "off" else 100))
    clock, eng, _ = engine_for(cfg)
    r = clock.run(eng.complete(ask("u1"))).record
    assert (r.flags, r.deployment) == ({"to_dear": variant}, deployment)


def test_an_unreadable_override_is_reported_and_ignored(monkeypatch):
    monkeypatch.setenv("AXTUI_FLAG_TO_DEAR", "maybe")
    cfg = config_with(to_dear=definition(pct=100))
    clock, eng, _ = engine_for(cfg)
    assert any("AXTUI_FLAG_TO_DEAR" in p for p in eng.flags.problems)
    assert clock.run(eng.complete(ask("u1"))).record.flags == {"to_dear": "on"}


def test_routes_without_flags_pay_nothing_and_record_nothing():
    clock, eng, _ = engine_for(make_config())
    r = clock.run(eng.complete(ask("u1"))).record
    assert r.flags == {} and eng.flags.by_route == {}
