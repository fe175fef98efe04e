"""Retention: old raw records and rollup periods go, recent ones stay, and under steady
traffic the store stops growing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from axtui.clock import VirtualClock
from axtui.config import RetentionConfig, parse_config
from axtui.records import ErrorKind
from axtui.store import open_store
from axtui.store.metrics import metric_value
from axtui.store.retention import prune
from axtui.store.rollups import DAY_S, HOUR_S, MINUTE_S
from axtui.store.tables import ROLLUP_TABLES, RequestRow
from tests.store.factory import T0, attempt, record

SHORT = RetentionConfig(raw_days=1, minute_days=2, hour_days=3, day_days=5)


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'axtui.db'}")
    yield s
    s.close()


def counts(store) -> dict[str, int]:
    with store.connect() as conn:
        out = {"request": conn.execute(select(func.count()).select_from(RequestRow)).scalar()}
        for t in ROLLUP_TABLES:
            for res in (MINUTE_S, HOUR_S, DAY_S):
                q = select(func.count()).select_from(t).where(t.c.res == res)
                out[f"{t.name}@{res}"] = conn.execute(q).scalar()
    return out


def a_day_of_traffic(clock: VirtualClock, store) -> None:
    """One request every 20 virtual minutes, two routes, now and then a failure."""
    for i in range(72):
        fails = i % 9 == 0
        store.write_records([record(
            started_at=clock.now(), route="chat" if i % 2 else "embed",
            attempts=[attempt("acme/a", started_at=clock.now(), latency_ms=100 + i,
                              error_kind=ErrorKind.server if fails else None)])])
        clock.advance(1200)


def test_the_defaults_are_a_week_a_month_a_quarter_and_a_year():
    p = RetentionConfig()
    assert (p.raw_days, p.minute_days, p.hour_days, p.day_days) == (7, 30, 90, 365)


def test_retention_is_configurable_under_its_own_section():
    from axtui.config import load_config

    base = load_config().model_dump(mode="json", exclude_none=True)
    cfg = parse_config({**base, "retention": {"raw_days": 2, "day_days": 30}})
    assert (cfg.retention.raw_days, cfg.retention.minute_days, cfg.retention.day_days) == (
        2, 30, 30)


def test_under_steady_traffic_the_store_stops_growing(store):
    clock = VirtualClock(T0)
    sizes = []
    for _ in range(9):
        a_day_of_traffic(clock, store)
        prune(store, clock.now(), SHORT)
        sizes.append(counts(store))
    # after five days every kind of row is at its age limit; from then on nothing grows
    assert sizes[5] == sizes[6] == sizes[7] == sizes[8]
    assert sizes[0]["rollups@86400"] < sizes[4]["rollups@86400"]  # it did grow until then
    assert sizes[8]["request"] == 72  # one day of raw records
    # five days x two routes x (served by acme/a, or by nobody when it failed)
    assert sizes[8]["rollups@86400"] == 5 * 2 * 2
    assert all(n > 0 for n in sizes[8].values())


def test_prune_removes_only_what_is_older_than_its_age(store):
    now = T0 + 10 * DAY_S
    store.write_records([record(started_at=now - 2 * DAY_S), record(started_at=now - 600)])
    result = prune(store, now, SHORT)
    assert result.deleted["request"] == 1 and counts(store)["request"] == 1
    # the minute rows of two days ago are kept (exactly at the age), the raw row is not
    assert result.by_resolution[MINUTE_S] == 0
    with store.connect() as conn:
        assert metric_value(conn, "request_rate", "global", now - 3600, now) == pytest.approx(
            1 / 3600)


def test_rollup_periods_go_once_wholly_past_their_age(store):
    now = T0 + 10 * DAY_S
    store.write_records([record(started_at=now - 2 * DAY_S - 120)])  # minute 2 d 2 min ago
    result = prune(store, now, SHORT)
    # its minute is over the 2-day age; its hour (3 d) and day (5 d) are kept
    assert result.by_resolution == {MINUTE_S: result.by_resolution[MINUTE_S], HOUR_S: 0,
                                    DAY_S: 0}
    assert result.by_resolution[MINUTE_S] >= 1
    assert result.deleted["request"] == 1


def ten_days_pruned(store) -> tuple[list[float], float]:
    """A request every 10 minutes for 10 days, pruned at the end (minutes kept 2 days, hours
    3, days 5): (their start times, the end)."""
    at = [T0 + i * 600 for i in range(10 * 144)]
    store.write_records([record(started_at=t, attempts=[attempt("acme/a", started_at=t)])
                         for t in at])
    now = T0 + 10 * DAY_S
    prune(store, now, SHORT)
    return at, now


def test_a_range_reaching_past_the_kept_minutes_reads_whole_hours_not_a_missing_edge(store):
    at, now = ten_days_pruned(store)
    for since, floor in ((now - 2.5 * DAY_S + 25 * 60, HOUR_S),
                         (now - 4 * DAY_S + 7 * HOUR_S + 25 * 60, DAY_S)):
        expected = sum(1 for t in at if since - since % floor <= t < now)
        assert store.route_stats(since, now)["chat"].requests == expected
        assert store.metric_value("request_rate", "global", since, now) == pytest.approx(
            expected / (now - (since - since % floor)))


def test_an_slo_read_of_several_windows_sees_the_pruned_edge_of_each(store):
    from axtui.slo.measure import routes_counts

    at, now = ten_days_pruned(store)
    oldest: dict = {}  # one evaluation's: the oldest periods read for the first window only
    with store.connect() as conn:
        for since, floor in ((now - 2.5 * DAY_S + 25 * 60, HOUR_S),
                             (now - 4 * DAY_S + 7 * HOUR_S + 25 * 60, DAY_S),
                             (now - 3600 + 25 * 60, MINUTE_S)):
            expected = sum(1 for t in at if since - since % floor <= t < now)
            got = routes_counts(conn, {"chat": None}, since, now, oldest)["chat"]
            assert got.requests == expected
    assert oldest  # it was kept


def test_a_range_starting_before_a_new_stores_first_record_keeps_its_own_span(store):
    store.write_records([record(started_at=T0 + 3600 + 17 * 60)])  # the store's first
    since = T0 + 3600 + 5 * 60  # before it, inside its hour: nothing was pruned
    assert store.metric_value("request_rate", "global", since, since + 1800) == pytest.approx(
        1 / 1800)


def test_ratings_go_with_the_records_they_rate(store):
    now = T0 + 10 * DAY_S
    old, new = record(started_at=now - 2 * DAY_S), record(started_at=now - 600)
    store.write_records([old, new])
    store.rate(old, -1.0)
    store.rate(new, 1.0)
    result = prune(store, now, SHORT)
    assert result.deleted["feedback"] == 1
    assert [r.request_id for r in store.ratings()] == [new.id]
