"""Rule values from the store (and the engine's breakers): what each metric measures, per
scope. Route and global scopes count requests (what callers saw); deployment and provider
scopes count attempts (what each deployment did)."""

from __future__ import annotations

import pytest

from axtui.alerts.sources import EngineStateSource, StoreMetrics
from axtui.config import BudgetConfig
from axtui.engine.engine import Engine
from axtui.records import ErrorKind, Outcome
from tests.alerts.conftest import rule
from tests.engine.conftest import make_config
from tests.store.factory import T0, attempt, record

NOW = T0 + 60  # every record below is in the minute before


def value(store, metric: str, scope: str = "global", *, engine=None, budgets=None,
          providers=None, window: str = "1m", **kw) -> float | None:
    with store.connect() as conn:
        m = StoreMetrics(conn, providers=providers, budgets=budgets, engine=engine)
        return m.value(rule(metric=metric, scope=scope, window=window, **kw), NOW)


def failover(t: float = T0 + 1) -> object:
    """a/x fails, b/y serves."""
    return record(started_at=t, attempts=[
        attempt("a/x", started_at=t, error_kind=ErrorKind.server, latency_ms=100),
        attempt("b/y", started_at=t, latency_ms=300)])


def test_error_rate_counts_requests_for_a_route_and_attempts_for_a_deployment(store):
    store.write_records([failover(), record(started_at=T0 + 2, attempts=[attempt("b/y")])])
    assert value(store, "error_rate", "route:chat") == 0.0  # both requests were served
    assert value(store, "error_rate", "deployment:a/x") == 1.0
    assert value(store, "error_rate", "deployment:b/y") == 0.0
    assert value(store, "success_rate", "deployment:a/x") == 0.0


def test_a_provider_scope_adds_up_its_deployments(store):
    store.write_records([failover(), record(started_at=T0 + 2, attempts=[attempt("a/z")])])
    assert value(store, "error_rate", "provider:a") == 0.5
    assert value(store, "error_rate", "provider:a",
                 providers={"a/x": "acme", "a/z": "other"}) is None  # no deployment of "a"


def test_a_deployment_without_attempts_in_the_window_has_no_data(store):
    store.write_records([record(started_at=T0 + 1, attempts=[attempt("b/y")])])
    assert value(store, "error_rate", "deployment:a/x") is None
    assert value(store, "p95", "deployment:a/x") is None


def test_latency_percentiles_per_route_are_over_requests(store):
    store.write_records([record(started_at=T0 + 1, attempts=[attempt(latency_ms=ms)])
                         for ms in range(100, 1100, 10)])
    p50, p99 = value(store, "p50", "route:chat"), value(store, "p99", "route:chat")
    assert p50 == pytest.approx(600, rel=0.2)
    assert p99 == pytest.approx(1090, rel=0.2)
    assert value(store, "p95", "deployment:openai/gpt-4o-mini") == pytest.approx(1050, rel=0.2)


def test_ttft_p95_is_within_two_percent(store):
    store.write_records([record(started_at=T0 + 1, ttft_ms=float(t)) for t in range(1, 101)])
    assert value(store, "ttft_p95", "route:chat") == pytest.approx(95.0, rel=0.02)


def test_request_rate_is_per_second_and_no_data_without_traffic(store):
    store.write_records([record(started_at=T0 + i) for i in range(30)])
    assert value(store, "request_rate") == pytest.approx(0.5)
    assert value(store, "request_rate", "route:other") is None


def test_cost_per_hour_is_in_dollars(store):
    # 60 requests of 5,000 nano-dollars in one minute: 0.0003 USD/min = 0.018 USD/h
    store.write_records([record(started_at=T0 + i) for i in range(60)])
    assert value(store, "cost_per_hour") == pytest.approx(0.018)


def test_failover_and_rejected_rates_are_shares_of_requests(store):
    store.write_records([failover(), record(started_at=T0 + 2),
                         record(started_at=T0 + 3, attempts=[], outcome=Outcome.rejected),
                         record(started_at=T0 + 4)])
    assert value(store, "failover_rate", "route:chat") == 0.25
    assert value(store, "rejected_rate") == 0.25


def test_headroom_near_miss_rate_is_the_share_of_attempts_answered_429(store):
    store.write_records([
        record(started_at=T0 + 1, attempts=[
            attempt("g/l", error_kind=ErrorKind.rate_limited), attempt("b/y")]),
        *[record(started_at=T0 + 2, attempts=[attempt("g/l")]) for _ in range(3)]])
    assert value(store, "headroom_near_miss_rate", "deployment:g/l") == 0.25
    assert value(store, "headroom_near_miss_rate", "deployment:b/y") == 0.0


def test_spend_vs_budget_is_the_percent_of_the_period_limit(store):
    # 10 requests of 5,000 nano-dollars = 50,000 of a 100,000 nano-dollar day
    store.write_records([record(started_at=T0 + i) for i in range(10)])
    budgets = [BudgetConfig(scope="global", period="day", limit_usd="0.0001")]
    assert value(store, "spend_vs_budget", budgets=budgets) == pytest.approx(50.0)


def test_breaker_open_reads_the_store_events_without_an_engine(store):
    store.add_event("breaker", "a/x", {"from": "closed", "to": "open", "until": NOW + 10},
                    ts=T0 + 5)
    store.add_event("breaker", "b/y", {"from": "closed", "to": "open", "until": NOW - 1},
                    ts=T0 + 5)
    store.add_event("breaker", "c/z", {"from": "half_open", "to": "closed"}, ts=T0 + 5)
    assert value(store, "breaker_open", "deployment:a/x") == 1.0
    # its open time is over but no trial has passed: half-open is not healthy yet
    assert value(store, "breaker_open", "deployment:b/y") == 1.0
    assert value(store, "breaker_open", "deployment:c/z") == 0.0  # a trial closed it
    assert value(store, "breaker_open") == 2.0  # breakers not closed, all deployments
    store.add_event("breaker", "a/x", {"from": "open", "to": "half_open"}, ts=T0 + 20)
    assert value(store, "breaker_open", "deployment:a/x") == 1.0  # a trial is pending
    store.add_event("breaker", "a/x", {"from": "half_open", "to": "closed"}, ts=T0 + 21)
    assert value(store, "breaker_open", "deployment:a/x") == 0.0


def test_breaker_open_reads_the_engine_when_the_host_gives_one(store, clock):
    engine = Engine(make_config(), clock=clock)
    source = EngineStateSource(engine)
    assert source.breaker_open("a/cheap") is False
    breaker = engine.deployments["a/cheap"].breaker
    for _ in range(5):
        breaker.on_failure(ErrorKind.server)
    assert source.breaker_open("a/cheap") is True
    assert source.breaker_open("nope/x") is None
    providers = {d.id: d.provider for d in engine.config.deployments}
    assert value(store, "breaker_open", "provider:a", engine=source, providers=providers) == 1.0
    assert value(store, "breaker_open", engine=source, providers=providers) == 1.0


def test_batched_values_equal_the_store_metric_vocabulary(store):
    """Alerts read each window once for all rules; every value must still be exactly what
    axtui.store.metrics.metric_value says for that metric and scope."""
    import random

    from axtui.store import metrics

    rng = random.Random(3)
    deployments = ["a/x", "a/z", "b/y"]
    records = []
    for i in range(400):
        t = T0 - 3600 + i * 9.0 + rng.random()
        first = rng.choice(deployments)
        attempts = [attempt(first, started_at=t, latency_ms=rng.lognormvariate(5, 1),
                            ttft_ms=rng.uniform(10, 300),
                            error_kind=rng.choice([None, None, None, ErrorKind.server,
                                                   ErrorKind.rate_limited]))]
        if attempts[0].error_kind is not None and rng.random() < 0.7:
            attempts.append(attempt("b/y", started_at=t, latency_ms=rng.uniform(50, 900)))
        records.append(record(started_at=t, route=rng.choice(["chat", "fast"]),
                              attempts=attempts, ttft_ms=rng.uniform(10, 300)))
    store.write_records(records)
    scopes = ["global", "route:chat", "route:fast", "deployment:a/x", "deployment:b/y",
              "provider:a"]
    measured = 0
    with store.connect() as conn:
        batched = StoreMetrics(conn)
        for window in ("1m", "5m", "15m", "1h"):
            for metric in metrics.METRIC_NAMES:
                for scope in scopes:
                    if metric == "rejected_rate" and scope.startswith(("deployment", "provider")):
                        continue
                    r = rule(metric=metric, scope=scope, window=window)
                    expected = metrics.metric_value(conn, metric, scope, NOW - r.window, NOW)
                    got = batched.value(r, NOW)
                    if metric == "cost_per_hour" and expected is not None:
                        expected = expected / 1e9
                    assert got == pytest.approx(expected), (metric, scope, window)
                    measured += got is not None
    assert measured > 100  # most metrics had data in most windows
