"""The metric vocabulary: each named metric over a window and a scope, read from rollups."""

from __future__ import annotations

import random

import pytest

from axtui.records import ErrorKind
from axtui.store import open_store
from axtui.store.metrics import (
    METRIC_NAMES,
    metric_series,
    metric_value,
    parse_metric,
    parse_scope,
)
from tests.store.factory import T0, attempt, record

A, B, C = "acme/cheap", "acme/mid", "zeta/dear"
HOUR = 3600.0


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'axtui.db'}")
    yield s
    s.close()


def value(store, metric, scope, since=T0, until=T0 + 60):
    with store.connect() as conn:
        return metric_value(conn, parse_metric(metric), parse_scope(scope), since, until)


def traffic() -> list:
    """Five chat requests in the first minute: two plain, a failover, a failure, a refusal."""
    return [
        record(attempts=[attempt(A, latency_ms=100, cost_nano=10)]),
        record(attempts=[attempt(A, latency_ms=200, cost_nano=20)]),
        record(attempts=[attempt(A, latency_ms=30, error_kind=ErrorKind.rate_limited),
                         attempt(B, latency_ms=400, cost_nano=300)]),
        record(attempts=[attempt(B, latency_ms=1000, error_kind=ErrorKind.timeout),
                         attempt(C, latency_ms=50, error_kind=ErrorKind.server)]),
        record(attempts=[]),  # refused: a quota
    ]


def test_an_unknown_metric_is_refused_with_the_valid_names():
    with pytest.raises(ValueError) as err:
        parse_metric("p42")
    message = str(err.value)
    assert "unknown metric 'p42'" in message and "\n" not in message
    assert all(name in message for name in METRIC_NAMES)


@pytest.mark.parametrize("text", ["", "route", "route:", "planet:x", "global:x", "deployment "])
def test_a_malformed_scope_is_refused_with_the_valid_forms(text):
    with pytest.raises(ValueError, match=r"bad scope .*global, route:NAME"):
        parse_scope(text)


def test_scopes_parse_to_their_kind_and_name():
    assert str(parse_scope("global")) == "global"
    s = parse_scope("deployment:openai/gpt-4o")
    assert (s.kind, s.name, s.attempt_level) == ("deployment", "openai/gpt-4o", True)
    assert parse_scope("route:chat").attempt_level is False


def test_route_and_global_metrics_count_requests_as_callers_saw_them(store):
    store.write_records(traffic())
    for scope in ("global", "route:chat"):
        assert value(store, "success_rate", scope) == pytest.approx(3 / 5)
        assert value(store, "error_rate", scope) == pytest.approx(2 / 5)
        assert value(store, "rejected_rate", scope) == pytest.approx(1 / 5)
        assert value(store, "failover_rate", scope) == pytest.approx(2 / 5)
        assert value(store, "request_rate", scope) == pytest.approx(5 / 60)


def test_deployment_metrics_count_attempts_including_failed_over_ones(store):
    store.write_records(traffic())
    assert value(store, "error_rate", f"deployment:{A}") == pytest.approx(1 / 3)
    assert value(store, "failover_rate", f"deployment:{A}") == pytest.approx(1 / 3)
    assert value(store, "error_rate", f"deployment:{B}") == pytest.approx(1 / 2)
    assert value(store, "request_rate", f"deployment:{B}") == pytest.approx(2 / 60)


def test_a_provider_is_its_deployments_by_name_prefix_or_as_the_config_lists_them(store):
    store.write_records(traffic())
    assert value(store, "error_rate", "provider:acme") == pytest.approx(2 / 5)  # A and B
    assert value(store, "error_rate", "provider:zeta") == pytest.approx(1.0)
    with store.connect() as conn:
        only_b = parse_scope("provider:acme").with_deployments([B])
        assert metric_value(conn, "error_rate", only_b, T0, T0 + 60) == pytest.approx(1 / 2)


def test_rejected_rate_has_no_deployment_scope(store):
    with pytest.raises(ValueError, match="rejected_rate has no deployment scope"):
        value(store, "rejected_rate", f"deployment:{A}")


def test_no_data_is_none_never_zero(store):
    store.write_records(traffic())
    for metric in METRIC_NAMES:
        scope = "route:other" if metric == "rejected_rate" else "deployment:nobody/x"
        assert value(store, metric, scope) is None, metric
    assert value(store, "p95", "global", T0 + HOUR, T0 + 2 * HOUR) is None
    # streamed answers only carry a ttft: without any, ttft_p95 has no data
    assert value(store, "ttft_p95", "global") is None


def test_cost_per_hour_is_exact_integer_nano_dollars(store):
    store.write_records([record(started_at=T0 + i, attempts=[attempt(A, cost_nano=1_000_001)])
                         for i in range(7)])
    got = value(store, "cost_per_hour", "route:chat", T0, T0 + 120)
    assert got == 7_000_007 * 30 and isinstance(got, int)
    # up to now, mid-minute: the rate is over the 30 s that have passed
    assert value(store, "cost_per_hour", "global", T0, T0 + 30) == 7_000_007 * 120


def test_latency_percentiles_are_close_to_the_exact_ones(store):
    rng = random.Random(5)
    latencies = [rng.lognormvariate(6, 0.7) for _ in range(2000)]
    store.write_records([record(started_at=T0 + i % 60, attempts=[attempt(A, latency_ms=v)])
                         for i, v in enumerate(latencies)])
    ordered = sorted(latencies)
    for metric, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = ordered[int(q * len(ordered)) - 1]
        for scope in ("global", f"deployment:{A}"):
            assert value(store, metric, scope) == pytest.approx(exact, rel=0.2)


def test_ttft_p95_reads_the_streamed_requests_time_to_first_token(store):
    store.write_records([
        record(attempts=[attempt(A, ttft_ms=float(t))], ttft_ms=float(t)) for t in range(1, 101)
    ])
    assert value(store, "ttft_p95", "global") == pytest.approx(95, rel=0.2)
    assert value(store, "ttft_p95", f"deployment:{A}") == pytest.approx(95, rel=0.2)


def test_a_series_has_one_point_per_step_with_none_where_nothing_happened(store):
    store.write_records([record(started_at=T0 + 5), record(started_at=T0 + 65),
                         record(started_at=T0 + 245, attempts=[
                             attempt(A, error_kind=ErrorKind.server)])])
    with store.connect() as conn:
        points = metric_series(conn, "error_rate", parse_scope("global"), T0, T0 + 300, 120)
    assert points == [(T0, 0.0), (T0 + 120, None), (T0 + 240, 1.0)]


def test_bad_windows_and_steps_are_refused(store):
    with store.connect() as conn, pytest.raises(ValueError, match="bad window"):
        metric_value(conn, "p95", "global", T0, T0)
    with store.connect() as conn, pytest.raises(ValueError, match="bad step"):
        metric_series(conn, "p95", "global", T0, T0 + 600, 90)


def test_the_store_answers_metrics_by_name_too(store):
    store.write_records(traffic())
    assert store.metric_value("rejected_rate", "route:chat", T0, T0 + 60) == pytest.approx(0.2)
    assert store.metric_series("request_rate", "global", T0, T0 + 120, 60) == [
        (T0, pytest.approx(5 / 60)), (T0 + 60, None)]
