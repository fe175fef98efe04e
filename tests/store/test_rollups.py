"""Rollups: counts, errors, spend and latency percentiles, also with several writers adding
to the same minute."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy.dialects import postgresql

from axtui.quantiles import ALPHA, percentile
from axtui.records import ErrorKind, Outcome
from axtui.store import Recorder, open_store
from axtui.store.bulk import _statement
from axtui.store.tables import rollup_table
from tests.store.factory import T0, attempt, record

A, B, C = "a/cheap", "b/mid", "c/dear"


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'axtui.db'}")
    yield s
    s.close()


def traffic() -> list:
    """Route chat over A, B, C in one minute: failovers, a failure and a refusal."""
    return [
        record(attempts=[attempt(A, latency_ms=100, cost_nano=10)], user="u1", key_id="k1"),
        record(
            attempts=[attempt(A, latency_ms=200, cost_nano=20)],
            user="u1",
            key_id="k1",
            ttft_ms=50.0,
        ),
        # failover: A rate-limits, B serves
        record(
            attempts=[
                attempt(A, latency_ms=30, error_kind=ErrorKind.rate_limited),
                attempt(B, latency_ms=400, cost_nano=300),
            ],
            user="u2",
            key_id="k1",
        ),
        # every attempt fails
        record(
            attempts=[
                attempt(B, latency_ms=1000, error_kind=ErrorKind.timeout),
                attempt(C, latency_ms=50, error_kind=ErrorKind.server),
            ],
            user="u2",
            key_id="k2",
        ),
        # refused before any attempt
        record(attempts=[], user="u3", key_id="k2"),
        record(
            route="embed", attempts=[attempt(C, latency_ms=80, cost_nano=7)], user="u3", key_id="k2"
        ),
    ]


def test_route_stats_count_requests_as_callers_saw_them(store):
    store.write_records(traffic())
    stats = store.route_stats(T0)
    chat = stats["chat"]
    assert (chat.requests, chat.ok, chat.errors, chat.attempts) == (5, 3, 2, 6)
    assert chat.success_rate == pytest.approx(3 / 5)
    assert chat.errors_by_kind == {"server": 1, "quota": 1}
    assert chat.cost_nano == 330 and chat.optimal_cost_nano == 5 + 10 + 150
    assert chat.mean_ttft_ms == 50.0
    # latency is over the four requests that reached a provider
    assert chat.mean_latency_ms == pytest.approx((100 + 200 + 430 + 1050) / 4)
    assert stats["embed"].requests == 1 and set(stats) == {"chat", "embed"}


def test_deployment_health_counts_attempts_including_failed_over_ones(store):
    store.write_records(traffic())
    health = store.deployment_health(T0)
    assert set(health) == {A, B, C}
    a, b, c = health[A], health[B], health[C]
    assert (a.attempts, a.ok, a.errors) == (3, 2, 1)
    assert a.errors_by_kind == {"rate_limited": 1} and a.error_rate == pytest.approx(1 / 3)
    assert (b.attempts, b.ok, b.errors, b.errors_by_kind) == (2, 1, 1, {"timeout": 1})
    assert (c.attempts, c.ok, c.errors_by_kind) == (2, 1, {"server": 1})
    assert (a.cost_nano, b.cost_nano, c.cost_nano) == (30, 300, 7)
    assert (a.prompt_tokens, a.completion_tokens) == (200, 40)
    assert a.mean_latency_ms == pytest.approx(110)


def test_an_attempt_the_caller_abandoned_is_listed_but_is_no_failure_of_the_deployment(store):
    store.write_records([
        record(attempts=[attempt(A, latency_ms=100)]),
        record(attempts=[attempt(A, latency_ms=9000, error_kind=ErrorKind.cancelled,
                                 prompt_tokens=0, completion_tokens=0, cost_nano=0)],
               outcome=Outcome.cancelled, error_kind=ErrorKind.cancelled),
    ])
    a = store.deployment_health(T0)[A]
    assert (a.attempts, a.ok, a.errors, a.error_rate) == (1, 1, 0, 0.0)
    assert a.errors_by_kind == {"cancelled": 1}
    assert a.mean_latency_ms == pytest.approx(100)  # the abandoned call's 9 s is not in it


def test_percentiles_over_stored_rollups_match_the_records_within_bucket_error(store):
    rng = random.Random(3)
    latencies = [rng.lognormvariate(5.5, 1.0) for _ in range(3000)]
    # spread over five minutes and two writes, so the query merges rows
    rs = [
        record(started_at=T0 + (i % 300), attempts=[attempt(A, latency_ms=v)])
        for i, v in enumerate(latencies)
    ]
    store.write_records(rs[:1500])
    store.write_records(rs[1500:])
    h = store.deployment_health(T0)[A]
    r = store.route_stats(T0)["chat"]
    for got in (h, r):
        for q, estimate in ((0.5, got.p50_ms), (0.95, got.p95_ms)):
            exact = percentile(sorted(latencies), q)
            assert abs(estimate - exact) <= ALPHA * exact


def test_queries_cover_the_whole_minutes_of_the_range(store):
    store.write_records([record(started_at=T0 + m * 60 + 5) for m in range(5)])
    assert store.route_stats(T0 + 120 + 30)["chat"].requests == 3  # minutes 2, 3, 4
    assert store.route_stats(T0 + 60, until_ts=T0 + 180)["chat"].requests == 2  # 1, 2
    assert store.route_stats(T0 + 600) == {}
    series = store.minute_series(T0, route="chat")
    assert [p.minute for p in series] == [int(T0) + m * 60 for m in range(5)]
    assert all(p.requests == 1 and p.cost_nano == 5000 for p in series)


def test_spend_is_exact_and_every_grouping_adds_up_to_the_same_total(store):
    store.write_records(traffic())
    by = {g: store.spend(T0, group_by=g) for g in ("route", "deployment", "user", "key")}
    assert by["route"] == {"chat": 330, "embed": 7}
    assert by["deployment"] == {A: 30, B: 300, C: 7}
    assert by["user"] == {"u1": 30, "u2": 300, "u3": 7}
    assert by["key"] == {"k1": 330, "k2": 7}
    assert {sum(v.values()) for v in by.values()} == {337}
    with pytest.raises(ValueError, match="group_by"):
        store.spend(T0, group_by="planet")  # type: ignore[arg-type]


def test_cost_a_record_carries_beyond_its_attempts_goes_to_the_serving_deployment(store):
    r = record(attempts=[attempt(A, cost_nano=0)])
    store.write_records([r.model_copy(update={"cost_nano": 99})])
    assert store.spend(T0, group_by="deployment") == {A: 99}
    assert store.spend(T0, group_by="route") == {"chat": 99}


def test_two_stores_writing_the_same_minute_add_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with open_store(url) as one, open_store(url) as two:
        one.write_records(traffic())
        two.write_records(traffic())
        one.write_records(traffic())
        chat = two.route_stats(T0)["chat"]
        assert (chat.requests, chat.ok, chat.attempts, chat.cost_nano) == (15, 9, 18, 990)
        assert chat.errors_by_kind == {"server": 3, "quota": 3}
        assert one.deployment_health(T0)[A].attempts == 9


def test_concurrent_recorders_on_two_stores_lose_no_counts(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    stores = [open_store(url), open_store(url)]
    recorders = [Recorder(s, flush_interval_s=0.005, batch_max=50) for s in stores]

    def feed(recorder):
        for i in range(1000):
            recorder.submit(record(started_at=T0 + i % 60))

    threads = [threading.Thread(target=feed, args=(r,)) for r in recorders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in recorders:
        r.close()
        assert r.stats().failed == 0
    chat = stores[0].route_stats(T0)["chat"]
    assert chat.requests == 2000 and chat.cost_nano == 2000 * 5000
    for s in stores:
        s.close()


def test_the_portable_update_then_insert_path_gives_the_same_rollups(tmp_path):
    native = open_store(f"sqlite:///{tmp_path / 'native.db'}")
    portable = open_store(f"sqlite:///{tmp_path / 'portable.db'}")
    portable.native_upsert = False
    for s in (native, portable):
        s.write_records(traffic())
        s.write_records(traffic())
    assert native.route_stats(T0) == portable.route_stats(T0)
    assert native.deployment_health(T0) == portable.deployment_health(T0)
    native.close()
    portable.close()


def test_postgres_gets_an_adding_upsert_with_named_parameters():
    sql, order = _statement(
        postgresql.psycopg.dialect(),
        rollup_table,
        ("res", "period", "route", "deployment", "requests"),
        ("res", "period", "route", "deployment"),
        0,
    )
    assert order is None
    assert "ON CONFLICT (res, period, route, deployment) DO UPDATE" in sql
    assert "requests = (rollups.requests + excluded.requests)" in sql
    assert "%(requests)s" in sql


def test_records_at_hand_and_their_json_lines_prepare_alike():
    """The thread recorder reads models in place, the process recorder's child parses JSON
    lines: both must give the same rows and rollups."""
    from axtui.store.ingest import PreparedBatch, prepare, record_json

    records = traffic() + [
        record(attempts=[attempt(A, error_kind=ErrorKind.cancelled, cost_nano=0)],
               outcome=Outcome.cancelled, error_kind=ErrorKind.cancelled),
        record(attempts=[], outcome=Outcome.rejected, error_kind=ErrorKind.quota),
    ]
    jsons = [record_json(r) for r in records]
    from_models = PreparedBatch()
    from_models.extend_records(records, jsons)
    from_lines = prepare(jsons)
    assert from_models.rows == from_lines.rows
    for rows in ("counter_rows", "histogram_rows", "error_rows"):
        assert getattr(from_models.delta, rows)() == getattr(from_lines.delta, rows)()
