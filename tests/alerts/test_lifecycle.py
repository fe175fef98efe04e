"""The alert lifecycle over a real store: inactive → pending → firing → resolved → inactive,
no data as a state of its own, every transition a typed event, states readable by another
process."""

from __future__ import annotations

import asyncio

from axtui.alerts.actions import create_rule, delete_rule
from axtui.alerts.state import AlertTransitionEvent, alert_event, read_alert_statuses
from axtui.records import ErrorKind
from axtui.store.db import open_store
from tests.alerts.conftest import evaluator, rule
from tests.store.factory import T0, attempt, record


def failing(t: float, n: int = 10, *, ok: int = 0, route: str = "chat") -> list:
    """`n` requests at time t, the first `ok` of them served, the rest failed."""
    return [record(started_at=t, route=route, attempts=[attempt(
        started_at=t, error_kind=None if i < ok else ErrorKind.server)]) for i in range(n)]


def states(store, at: float) -> dict[str, str]:
    with store.connect() as conn:
        return {a.name: a.state for a in read_alert_statuses(conn, at)}


def moves(transitions) -> list[tuple[str, str]]:
    return [(t.from_state, t.to_state) for t in transitions]


def test_a_true_condition_is_pending_until_it_has_held_for_its_for(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", **{"for": "30s"}))
    clock.set(T0 + 10)
    assert moves(ev.evaluate()) == [("inactive", "pending")]
    clock.set(T0 + 30)
    assert ev.evaluate() == []  # 20 s of 30: still pending
    clock.set(T0 + 40)
    assert moves(ev.evaluate()) == [("pending", "firing")]
    assert states(store, clock.now()) == {"errors": "firing"}


def test_a_rule_without_for_fires_at_once(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", **{"for": 0}))
    clock.set(T0 + 10)
    assert moves(ev.evaluate()) == [("inactive", "firing")]


def test_pending_goes_back_to_inactive_when_the_condition_stops_before_for(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", window="1m", **{"for": "5m"}))
    clock.set(T0 + 10)
    ev.evaluate()
    store.write_records(failing(T0 + 61, n=90, ok=90))  # errors drop to 10%
    clock.set(T0 + 70)
    assert moves(ev.evaluate()) == [("pending", "inactive")]


def test_firing_resolves_when_false_and_is_inactive_after_resolved_keep(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", **{"for": 0}), resolved_keep_s=300)
    clock.set(T0 + 10)
    ev.evaluate()
    store.write_records(failing(T0 + 121, n=10, ok=10))
    clock.set(T0 + 150)  # the window holds only the healthy minute now
    assert moves(ev.evaluate()) == [("firing", "resolved")]
    store.write_records(failing(T0 + 301, n=10, ok=10))
    clock.set(T0 + 330)
    assert ev.evaluate() == []  # still shown as resolved
    store.write_records(failing(T0 + 451, n=10, ok=10))
    clock.set(T0 + 460)
    assert moves(ev.evaluate()) == [("resolved", "inactive")]


def test_no_data_is_a_state_never_silently_ok(store, clock):
    ev = evaluator(store, clock, rule("errors"))
    clock.set(T0 + 10)
    assert moves(ev.evaluate()) == [("inactive", "nodata")]
    with store.connect() as conn:
        (status,) = read_alert_statuses(conn, clock.now())
    assert (status.state, status.value) == ("nodata", None)


def test_a_firing_alert_that_loses_its_data_is_nodata_then_resolves_on_healthy_data(
        store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", **{"for": 0}))
    clock.set(T0 + 10)
    ev.evaluate()
    clock.set(T0 + 200)
    assert moves(ev.evaluate()) == [("firing", "nodata")]
    store.write_records(failing(T0 + 241, n=10, ok=10))
    clock.set(T0 + 250)
    assert moves(ev.evaluate()) == [("nodata", "resolved")]


def test_a_firing_alert_whose_data_returns_bad_is_firing_again_without_waiting(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", **{"for": "30s"}))
    for t in (10, 45):
        clock.set(T0 + t)
        ev.evaluate()
    clock.set(T0 + 200)
    ev.evaluate()
    store.write_records(failing(T0 + 241))
    clock.set(T0 + 250)
    assert moves(ev.evaluate()) == [("nodata", "firing")]


def test_every_transition_is_a_typed_event_in_the_store(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", severity="critical", labels={"team": "x"},
                                      **{"for": "30s"}))
    for t in (10, 45):
        clock.set(T0 + t)
        ev.evaluate()
    events = [e for e in reversed(store.events(limit=10)) if e.kind.startswith("alert.")]
    assert [e.kind for e in events] == ["alert.pending", "alert.firing"]
    firing = alert_event(events[1])
    assert isinstance(firing, AlertTransitionEvent)
    assert (firing.rule, firing.from_state, firing.to_state, firing.value,
            firing.threshold, firing.severity, firing.labels) == (
        "errors", "pending", "firing", 1.0, 0.5, "critical", {"team": "x"})
    assert events[1].ts == T0 + 45


def test_another_process_reads_state_value_threshold_and_since(store, store_url, clock):
    store.write_records(failing(T0 + 1, n=10, ok=2))
    ev = evaluator(store, clock, rule("errors", **{"for": 0}))
    clock.set(T0 + 10)
    ev.evaluate()
    other = open_store(store_url)  # as the console attached to the store would
    with other.connect() as conn:
        (a,) = read_alert_statuses(conn, clock.now())
    other.close()
    assert (a.name, a.state, a.value, a.threshold, a.since, a.evaluated_at) == (
        "errors", "firing", 0.8, 0.5, T0 + 10, T0 + 10)
    assert a.condition == "error_rate of global > 0.5 over 1m"
    assert a.firing and a.ack is None and a.silenced_by is None


def test_statuses_list_the_most_urgent_first(store, clock):
    store.write_records(failing(T0 + 1, n=10, ok=5))
    ev = evaluator(store, clock,
                   rule("info-firing", severity="info", threshold=0.1, **{"for": 0}),
                   rule("crit-firing", severity="critical", threshold=0.1, **{"for": 0}),
                   rule("pending", threshold=0.1),
                   rule("quiet", threshold=0.9),
                   rule("nodata", metric="ttft_p95", threshold=1))
    clock.set(T0 + 10)
    ev.evaluate()
    with store.connect() as conn:
        order = [(a.name, a.state) for a in read_alert_statuses(conn, clock.now())]
    assert order == [("crit-firing", "firing"), ("info-firing", "firing"),
                     ("pending", "pending"), ("nodata", "nodata"), ("quiet", "inactive")]


def test_rules_created_in_the_store_are_evaluated_and_dropped_when_deleted(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock)
    create_rule(store, rule("from-cli", **{"for": 0}), by="ops", taken=set())
    clock.set(T0 + 10)
    assert moves(ev.evaluate()) == [("inactive", "firing")]
    delete_rule(store, "from-cli", by="ops")
    clock.set(T0 + 25)
    ev.evaluate()
    assert states(store, clock.now()) == {}


def test_the_run_loop_fires_in_virtual_time(store, clock):
    store.write_records(failing(T0 + 1))
    ev = evaluator(store, clock, rule("errors", **{"for": "30s"}))
    clock.set(T0 + 5)

    async def main():
        task = asyncio.ensure_future(ev.run(interval_s=15))
        await clock.sleep(50)
        task.cancel()

    clock.run(main())
    events = [e for e in reversed(store.events(limit=10)) if e.kind.startswith("alert.")]
    # evaluated at +5, +20, +35, +50: pending at the first, firing once 30 s held
    assert [(e.kind, e.ts - T0) for e in events] == [("alert.pending", 5.0),
                                                     ("alert.firing", 35.0)]
    assert ev.evaluations == 4


def test_evaluators_in_two_processes_share_the_state_and_transition_once(store, store_url,
                                                                          clock):
    store.write_records(failing(T0 + 1))
    other = open_store(store_url, clock=clock)  # a second gateway on the same store
    sent: list = []

    class Notifier:
        def submit(self, n) -> None:
            sent.append(n.kind)

    a = evaluator(store, clock, rule("errors", **{"for": 0}), notifier=Notifier())
    b = evaluator(other, clock, rule("errors", **{"for": 0}), notifier=Notifier())
    clock.set(T0 + 10)
    assert moves(a.evaluate()) == [("inactive", "firing")]
    clock.set(T0 + 15)
    assert b.evaluate() == []  # it reads what the first wrote
    other.close()
    assert sent == ["firing"]
    assert [e.kind for e in store.events(limit=10)] == ["alert.firing"]
    assert store.counter("alerts.evaluations") == 2


def test_a_wildcard_scope_makes_one_alert_per_deployment(store, clock):
    store.write_records([record(started_at=T0 + 1, attempts=[
        attempt("a/x", started_at=T0 + 1, error_kind=ErrorKind.server),
        attempt("b/y", started_at=T0 + 1)]) for _ in range(5)])
    ev = evaluator(store, clock, rule("dep-errors", scope="deployment:*", **{"for": 0}),
                   providers={"a/x": "a", "b/y": "b", "c/z": "c"})
    clock.set(T0 + 10)
    assert sorted((t.rule.name, t.to_state) for t in ev.evaluate()) == [
        ("dep-errors[a/x]", "firing"), ("dep-errors[c/z]", "nodata")]
    with store.connect() as conn:
        alerts = {a.name: a for a in read_alert_statuses(conn, clock.now())}
    assert {n: a.state for n, a in alerts.items()} == {
        "dep-errors[a/x]": "firing", "dep-errors[b/y]": "inactive",
        "dep-errors[c/z]": "nodata"}
    a = alerts["dep-errors[a/x]"]
    assert (a.scope, a.labels, a.value) == ("deployment:a/x", {"deployment": "a/x"}, 1.0)


def test_budget_thresholds_fire_as_built_in_alerts(store, clock):
    from axtui.alerts.rules import budget_rules
    from axtui.config import BudgetConfig

    budgets = [BudgetConfig(scope="global", period="day", limit_usd="0.0001")]  # 100,000 nano
    ev = evaluator(store, clock, *budget_rules(budgets), budgets=budgets)
    store.write_records([record(started_at=T0 + 1) for _ in range(17)])  # 85,000 nano
    clock.set(T0 + 10)
    fired = sorted(t.rule.name for t in ev.evaluate() if t.to_state == "firing")
    assert fired == ["budget:global:day:50", "budget:global:day:80"]
    with store.connect() as conn:
        hundred = next(a for a in read_alert_statuses(conn, clock.now())
                       if a.name == "budget:global:day:100")
    assert (hundred.state, hundred.value, hundred.severity) == ("inactive", 85.0, "critical")


def test_firing_counts_feed_the_prometheus_series_per_rule_and_severity(store, clock):
    from axtui.alerts.state import firing_counts

    store.write_records([record(started_at=T0 + 1, attempts=[
        attempt(d, started_at=T0 + 1, error_kind=ErrorKind.server)]) for d in ("a/x", "b/y")])
    ev = evaluator(store, clock, rule("dep-errors", scope="deployment:*", severity="critical",
                                      **{"for": 0}),
                   rule("errors", **{"for": 0}), rule("quiet", threshold=2.0),
                   providers={"a/x": "a", "b/y": "b", "c/z": "c"})
    clock.set(T0 + 10)
    ev.evaluate()
    with store.connect() as conn:
        assert firing_counts(conn) == {("dep-errors", "critical"): 2, ("errors", "warning"): 1}
