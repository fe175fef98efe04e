"""Rollups at minute, hour and day: kept as records land, read at the coarsest resolution
that tiles a range, and agreeing with the records themselves."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from axtui.quantiles import ALPHA, percentile
from axtui.records import ErrorKind
from axtui.store import open_store
from axtui.store.metrics import metric_value
from axtui.store.rollups import DAY_S, HOUR_S, MINUTE_S
from axtui.store.tables import rollup_table
from axtui.store.windows import covering
from tests.store.factory import T0, attempt, record

A, B = "acme/a", "acme/b"


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    """2,000 requests at random times over three days, written in uneven batches."""
    rng = random.Random(11)
    records = []
    for _ in range(2000):
        at = T0 + rng.uniform(0, 3 * DAY_S)
        fails = rng.random() < 0.1
        records.append(record(
            started_at=at, route=rng.choice(["chat", "embed"]),
            attempts=[attempt(A, started_at=at, latency_ms=rng.lognormvariate(5, 1),
                              error_kind=ErrorKind.server if fails else None,
                              cost_nano=rng.randrange(1, 10**6))]))
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('res') / 'axtui.db'}")
    rng.shuffle(records)  # late and early records land in any order
    for i in range(0, len(records), 333):
        store.write_records(records[i : i + 333])
    yield store, records
    store.close()


def covered(records, since, until):
    lo = math.floor(since / MINUTE_S) * MINUTE_S
    hi = math.ceil(until / MINUTE_S) * MINUTE_S
    return [r for r in records if lo <= r.started_at < hi]


def test_every_resolution_holds_the_same_totals(three_days):
    store, records = three_days
    with store.connect() as conn:
        q = select(rollup_table.c.res, func.sum(rollup_table.c.requests),
                   func.sum(rollup_table.c.cost_nano)).group_by(rollup_table.c.res)
        by_res = {res: (int(n), int(c)) for res, n, c in conn.execute(q)}
    total = (len(records), sum(r.cost_nano for r in records))
    assert by_res == {MINUTE_S: total, HOUR_S: total, DAY_S: total}


@given(st.integers(0, 3 * DAY_S), st.integers(1, 3 * DAY_S))
@settings(deadline=None, max_examples=60)  # a store query: its time is the machine's
def test_any_range_reads_what_its_records_say(three_days, start, length):
    store, records = three_days
    since, until = T0 + start + 0.5, T0 + start + length + 0.5
    expected = covered(records, since, until)
    stats = store.route_stats(since, until)
    assert sum(s.requests for s in stats.values()) == len(expected)
    assert sum(s.cost_nano for s in stats.values()) == sum(r.cost_nano for r in expected)
    health = store.deployment_health(since, until)
    assert sum(h.errors for h in health.values()) == sum(not r.ok for r in expected)


def test_percentiles_over_days_stay_within_two_percent(three_days):
    store, records = three_days
    since, until = T0 + 1234.0, T0 + 2 * DAY_S + 4321.0
    latencies = sorted(r.latency_ms for r in covered(records, since, until))
    with store.connect() as conn:
        for metric, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            exact = percentile(latencies, q)
            got = metric_value(conn, metric, "global", since, until)
            assert abs(got - exact) <= ALPHA * exact


def test_a_week_is_read_as_days_with_hours_and_minutes_only_at_its_edges():
    since = int(T0) + 5 * HOUR_S + 7 * MINUTE_S
    segments = covering(since, since + 7 * DAY_S)
    assert [s[0] for s in segments] == [MINUTE_S, HOUR_S, DAY_S, HOUR_S, MINUTE_S]
    assert segments[0][1] == since and segments[-1][2] == since + 7 * DAY_S
    assert all(a[2] == b[1] for a, b in zip(segments, segments[1:], strict=False))  # tiled


def test_a_range_inside_one_hour_is_read_in_minutes():
    assert covering(int(T0) + 60, int(T0) + 600) == [(MINUTE_S, int(T0) + 60, int(T0) + 600)]


@given(st.integers(0, 3 * DAY_S), st.integers(60, 3 * DAY_S))
@settings(deadline=None, max_examples=60)
def test_metrics_over_any_range_match_the_records(three_days, start, length):
    store, records = three_days
    since, until = T0 + start, T0 + start + length  # whole seconds: minute edges happen
    expected = covered(records, since, until)
    with store.connect() as conn:
        error_rate = metric_value(conn, "error_rate", "global", since, until)
        cost = metric_value(conn, "cost_per_hour", "route:chat", since, until)
    if not expected:
        assert error_rate is None
        return
    assert error_rate == pytest.approx(sum(not r.ok for r in expected) / len(expected))
    chat_cost = sum(r.cost_nano for r in expected if r.route == "chat")
    lo = math.floor(since / MINUTE_S) * MINUTE_S
    span_ms = (until - lo) * 1000  # the whole minutes read, up to the window's end
    if any(r.route == "chat" for r in expected):  # nano-USD per hour, rounded half up
        assert cost == (2 * chat_cost * 3_600_000 + span_ms) // (2 * span_ms)
