"""Every guardrail of `change()`, on a virtual clock with synthetic records in the store."""

from __future__ import annotations

import threading

import pytest

from axtui.flags.guardrails import schedule
from axtui.flags.ops import (
    FlagConflict,
    FlagKilled,
    InvalidChange,
    Refused,
    UnknownFlag,
    change,
    get_flag,
    seed,
    watch_once,
)
from axtui.store.db import open_store

from .conftest import config_with, definition, traffic

HOUR = 3600.0


def create(store, pct=1.0, name="to_dear", **kw):
    return change(store, name, action="create", definition=definition(pct=pct, **kw),
                  by="alice")


def good_traffic(store, clock, name="to_dear", wait=HOUR, **kw):
    """A healthy cohort since the last change, then the dwell passes."""
    st, _ = get_flag(store, name)
    traffic(store, st, start=clock.now() + 1, users=kw.pop("users", 2000), **kw)
    clock.advance(wait)


def events(store, name="to_dear"):
    return [e.detail for e in reversed(store.events(kind="flag", subject=name))]


# ---------------------------------------------------------------------------- step limit


def test_the_first_step_from_zero_is_at_most_the_canary(store):
    create(store, pct=0)
    with pytest.raises(Refused) as err:
        change(store, "to_dear", action="rollout", pct=2, by="alice")
    assert [v.rule for v in err.value.violations] == ["step"]
    assert "canary size 1%" in err.value.message and err.value.code == 1
    assert change(store, "to_dear", action="rollout", pct=1, by="alice").to_pct == 1


def test_a_new_flag_starts_at_most_at_the_canary(store):
    with pytest.raises(Refused):
        create(store, pct=5)
    assert store.get_control("flag:to_dear") is None


def test_an_increase_may_at_most_multiply_by_the_step_factor(store, clock):
    create(store, pct=1)
    good_traffic(store, clock)
    with pytest.raises(Refused) as err:
        change(store, "to_dear", action="rollout", pct=5.1, by="alice")
    assert [v.rule for v in err.value.violations] == ["step"]
    assert "at most 5%" in err.value.message
    assert change(store, "to_dear", action="rollout", pct=5, by="alice").to_pct == 5


def test_the_step_factor_is_configurable(store, clock):
    create(store, pct=1, guardrails={"max_step_factor": 2}, ladder=[1, 2])
    good_traffic(store, clock)
    with pytest.raises(Refused, match="at most 2%"):
        change(store, "to_dear", action="rollout", pct=3, by="alice")


# ---------------------------------------------------------------------------- dwell


def test_an_increase_waits_the_dwell_since_the_last_change(store, clock):
    create(store, pct=1)
    good_traffic(store, clock, wait=HOUR - 60)
    with pytest.raises(Refused) as err:
        change(store, "to_dear", action="rollout", pct=5, by="alice")
    assert [v.rule for v in err.value.violations] == ["dwell"]
    assert "another 60s" in err.value.message
    clock.advance(60)
    assert change(store, "to_dear", action="rollout", pct=5, by="alice").changed


# ---------------------------------------------------------------------------- gates


def test_an_increase_needs_a_go_from_the_gates(store, clock):
    create(store, pct=1)
    st, _ = get_flag(store, "to_dear")
    traffic(store, st, start=clock.now() + 1, users=3000, cohort={"latency_ms": 900.0})
    clock.advance(HOUR)
    with pytest.raises(Refused) as err:
        change(store, "to_dear", action="rollout", pct=5, by="alice")
    assert [v.rule for v in err.value.violations] == ["gates"]
    assert err.value.verdict.verdict == "no-go"
    assert "p95_latency 900ms > 480ms" in err.value.message
    assert get_flag(store, "to_dear")[0].pct == 1


def test_too_little_data_refuses_an_increase(store, clock):
    create(store, pct=1)
    clock.advance(HOUR)
    with pytest.raises(Refused) as err:
        change(store, "to_dear", action="rollout", pct=5, by="alice")
    assert err.value.verdict.verdict == "inconclusive"


# ---------------------------------------------------------------------------- force


def test_force_overrides_every_guardrail_with_a_reason_and_is_audited(store, clock):
    create(store, pct=1)
    r = change(store, "to_dear", action="rollout", pct=50, by="bob", force=True,
               reason="load test window")
    assert r.forced and {v.rule for v in r.overridden} == {"step", "dwell", "gates"}
    last = events(store)[-1]
    assert (last["action"], last["from"], last["to"], last["by"], last["forced"]) == (
        "rollout", 1.0, 50.0, "bob", True)
    assert last["reason"] == "load test window"
    assert {v["rule"] for v in last["overridden"]} == {"step", "dwell", "gates"}
    assert last["verdict"]["verdict"] == "inconclusive"


def test_force_without_a_reason_is_refused_and_changes_nothing(store):
    create(store, pct=1)
    with pytest.raises(InvalidChange, match="--force needs a reason"):
        change(store, "to_dear", action="rollout", pct=50, by="bob", force=True)
    assert get_flag(store, "to_dear")[0].pct == 1 and len(events(store)) == 1


def test_creating_or_raising_a_force_flag_needs_a_reason_lowering_does_not(store):
    force = {"kind": "force", "route": "chat", "deployment": "b/mid"}
    with pytest.raises(InvalidChange, match="force flag needs a reason"):
        create(store, pct=1, effect=force)
    change(store, "to_dear", action="create", by="alice", reason="pin chat to mid for a test",
           definition=definition(pct=1, effect=force))
    assert change(store, "to_dear", action="rollout", pct=0, by="oncall").to_pct == 0
    with pytest.raises(InvalidChange, match="raising a force flag needs a reason"):
        change(store, "to_dear", action="rollout", pct=1, by="alice")
    assert change(store, "to_dear", action="rollout", pct=1, by="alice",
                  reason="test again").to_pct == 1


# ---------------------------------------------------------------------------- decreases, kill


def test_a_decrease_lands_at_once_whatever_the_gates_and_dwell(store, clock):
    create(store, pct=1)
    change(store, "to_dear", action="rollout", pct=25, by="bob", force=True, reason="test")
    st, _ = get_flag(store, "to_dear")
    traffic(store, st, start=clock.now() + 1, fail_every=2)
    r = change(store, "to_dear", action="rollout", pct=10, by="carol")
    assert (r.from_pct, r.to_pct, r.forced) == (25, 10, False)


def test_a_kill_sets_zero_records_who_when_why_and_blocks_increases(store, clock):
    create(store, pct=1)
    clock.advance(5)
    r = change(store, "to_dear", action="kill", by="oncall", reason="bad answers")
    st = r.state
    assert (st.pct, st.effective_pct, st.killed.by, st.killed.reason) == (
        0, 0, "oncall", "bad answers")
    assert st.killed.at == clock.now()
    with pytest.raises(FlagKilled, match="killed by oncall .bad answers.") as err:
        change(store, "to_dear", action="rollout", pct=1, by="bob", force=True, reason="x")
    assert err.value.code == 2
    with pytest.raises(FlagKilled):
        change(store, "to_dear", action="advance", by="bob")
    change(store, "to_dear", action="revive", by="oncall", reason="fixed upstream")
    assert change(store, "to_dear", action="rollout", pct=1, by="bob").to_pct == 1
    assert [e["action"] for e in events(store)] == ["create", "kill", "revive", "rollout"]


def test_a_kill_needs_a_reason(store):
    create(store, pct=1)
    with pytest.raises(InvalidChange, match="kill needs a reason"):
        change(store, "to_dear", action="kill", by="oncall", reason="  ")
    assert get_flag(store, "to_dear")[0].killed is None


def test_reviving_a_live_flag_is_an_error(store):
    create(store, pct=1)
    with pytest.raises(InvalidChange, match="is not killed"):
        change(store, "to_dear", action="revive", by="oncall")


@pytest.mark.parametrize(("pct", "message"), [
    (101, "out of range"), (-1, "out of range"), (2.55, "at most one decimal"),
    (None, "needs a percentage"),
])
def test_a_bad_percentage_is_refused_and_changes_nothing(store, pct, message):
    create(store, pct=1)
    with pytest.raises(InvalidChange, match=message):
        change(store, "to_dear", action="rollout", pct=pct, by="alice")
    assert len(events(store)) == 1


def test_an_unknown_flag_is_named_with_the_known_ones(store):
    create(store, pct=1)
    with pytest.raises(UnknownFlag, match="unknown flag 'nope'; flags: to_dear"):
        change(store, "nope", action="rollout", pct=1, by="alice")


def test_disable_is_immediate_and_enable_is_a_guarded_increase(store):
    create(store, pct=1)
    assert change(store, "to_dear", action="disable", by="a").state.effective_pct == 0
    r = change(store, "to_dear", action="enable", by="a")
    assert r.state.effective_pct == 1  # 0 -> 1: a canary step


# ---------------------------------------------------------------------------- ladder


def test_advance_follows_the_ladder_when_the_gates_pass(store, clock):
    create(store, pct=1)
    good_traffic(store, clock)
    assert change(store, "to_dear", action="advance", by="alice").to_pct == 5
    good_traffic(store, clock)
    assert change(store, "to_dear", action="advance", by="alice").to_pct == 25


def test_advance_at_the_top_of_the_ladder_is_an_error(store):
    create(store, pct=1, ladder=[1])
    with pytest.raises(InvalidChange, match="top of its ladder"):
        change(store, "to_dear", action="advance", by="alice")


def test_schedule_gives_the_earliest_time_of_each_step(store, clock):
    create(store, pct=1)
    st, _ = get_flag(store, "to_dear")
    t0 = st.last_change_at
    clock.advance(600)
    steps = schedule(st, clock.now())
    assert [(s.pct, s.earliest_at) for s in steps] == [
        (5, t0 + HOUR), (25, t0 + 2 * HOUR), (50, t0 + 3 * HOUR), (100, t0 + 4 * HOUR)]
    killed = change(store, "to_dear", action="kill", by="o", reason="r").state
    assert all(s.earliest_at is None for s in schedule(killed, clock.now()))


# ---------------------------------------------------------------------------- auto-rollback


def _rolled_out(store, clock, **guard):
    create(store, pct=1, guardrails=guard)
    good_traffic(store, clock)
    change(store, "to_dear", action="advance", by="alice")  # 1 -> 5 with a go
    st, _ = get_flag(store, "to_dear")
    traffic(store, st, start=clock.now() + 1, users=2000, fail_every=3, prefix="bad")
    clock.advance(120)


def test_auto_rollback_returns_to_the_previous_step_after_n_failed_gates(store, clock):
    _rolled_out(store, clock, rollback_after=2)
    first = watch_once(store, "to_dear", now=clock.now())
    assert (first.action, first.state.pct, first.state.consecutive_failures) == ("gate", 5, 1)
    second = watch_once(store, "to_dear", now=clock.now())
    assert (second.action, second.from_pct, second.to_pct) == ("rollback", 5, 1)
    last = events(store)[-1]
    assert last["action"] == "rollback" and last["by"] == "auto-rollback"
    assert last["verdict"]["verdict"] == "no-go" and "error_rate" in last["verdict"]["failed"]


def test_auto_rollback_can_kill(store, clock):
    _rolled_out(store, clock, rollback_after=1, rollback_to="kill")
    r = watch_once(store, "to_dear", now=clock.now())
    assert r.state.killed is not None and r.state.killed.by == "auto-rollback"
    assert r.state.killed.reason.startswith("gates failed 1 times in a row: error_rate")


def test_a_go_resets_the_failure_count_and_inconclusive_leaves_it(store, clock):
    create(store, pct=1, guardrails={"rollback_after": 3})
    good_traffic(store, clock)
    change(store, "to_dear", action="advance", by="alice")
    st, _ = get_flag(store, "to_dear")
    quiet = watch_once(store, "to_dear", now=clock.now() + 1)  # nothing in the window yet
    assert quiet.verdict.verdict == "inconclusive" and not quiet.changed
    traffic(store, st, start=clock.now() + 1, users=2000, cohort={"cost_nano": 6_000},
            prefix="dear")
    clock.advance(120)
    assert watch_once(store, "to_dear").state.consecutive_failures == 1  # cost rose
    traffic(store, st, start=clock.now() + 1, users=3000, cohort={"cost_nano": 4_000},
            prefix="cheap")
    clock.advance(120)
    r = watch_once(store, "to_dear")
    assert (r.verdict.verdict, r.state.consecutive_failures, r.state.pct) == ("go", 0, 5)


def test_watching_a_flag_at_zero_does_nothing(store):
    create(store, pct=0)
    r = watch_once(store, "to_dear")
    assert not r.changed and "nothing to watch" in r.note


# ---------------------------------------------------------------------------- concurrency


def test_a_change_racing_another_loses_with_a_conflict_and_writes_nothing(tmp_path, clock,
                                                                          monkeypatch):
    url = f"sqlite:///{tmp_path}/race.db"
    mine, theirs = open_store(url, clock=clock), open_store(url, clock=clock)
    create(mine, pct=1)
    real = mine.get_control

    def read_then_lose(key):
        entry = real(key)
        change(theirs, "to_dear", action="rollout", pct=0.5, by="bob")  # lands in between
        return entry

    monkeypatch.setattr(mine, "get_control", read_then_lose)
    with pytest.raises(FlagConflict, match="nothing was written") as err:
        change(mine, "to_dear", action="kill", by="alice", reason="mine")
    assert err.value.code == 4
    assert get_flag(theirs, "to_dear")[0].pct == 0.5
    assert [e["by"] for e in events(theirs)] == ["alice", "bob"]  # create, bob's rollout


def test_two_writers_hammering_one_flag_lose_no_update(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/race.db"
    create(open_store(url, clock=clock), pct=1)
    landed: list[tuple[str, float]] = []
    errors: list[BaseException] = []

    def writer(who: str, pcts: list[float]) -> None:
        store = open_store(url, clock=clock)
        try:
            for p in pcts:
                while True:
                    try:
                        r = change(store, "to_dear", action="rollout", pct=p, by=who,
                                   force=True, reason="stress")
                    except FlagConflict:
                        continue  # the other writer won this round: re-read and retry
                    if r.changed:
                        landed.append((who, p))
                    break
        except BaseException as e:  # surfaced by the assertion below, not lost in a thread
            errors.append(e)

    a = threading.Thread(target=writer, args=("a", [round(0.1 * i, 1) for i in range(1, 16)]))
    b = threading.Thread(target=writer, args=("b", [10 + i for i in range(15)]))
    a.start(), b.start()
    a.join(), b.join()
    assert errors == []
    store = open_store(url, clock=clock)
    log = events(store)[1:]
    assert len(log) == 30  # every change that returned landed, with its audit event
    for who in ("a", "b"):
        assert [e["to"] for e in log if e["by"] == who] == [p for w, p in landed if w == who]
    for before, after in zip(log, log[1:], strict=False):  # each change starts where one ended
        assert after["from"] == before["to"]
    assert get_flag(store, "to_dear")[0].pct == log[-1]["to"]


# ---------------------------------------------------------------------------- seeding


def test_seeding_creates_missing_flags_and_never_overwrites_operator_state(store):
    cfg = config_with(to_dear=definition(pct=1))
    assert seed(store, cfg) == ["to_dear"]
    change(store, "to_dear", action="kill", by="oncall", reason="r")
    assert seed(store, cfg) == []
    assert get_flag(store, "to_dear")[0].killed is not None
