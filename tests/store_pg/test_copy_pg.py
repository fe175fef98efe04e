"""Request rows reach PostgreSQL by binary COPY (store/postgres.py copy_rows): every column
type round-trips, a bad row raises the SQLAlchemy exception an INSERT would have (the
recorder's halving and retries depend on them), an integer too large for its column is
refused rather than wrapped around, and a failed batch leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from axtui.records import ErrorKind, Usage
from axtui.store import Recorder, open_store
from axtui.store.bulk import execute_rows
from axtui.store.ingest import REQUEST_COLUMNS, record_json, request_row
from axtui.store.tables import RequestRow
from tests.store.factory import T0, attempt, record

INT4_MAX, INT8_MAX = 2**31 - 1, 2**63 - 1
REQUEST = RequestRow.__table__


@pytest.fixture
def store(pg_url):
    s = open_store(pg_url)
    yield s
    s.close()


def _stored_rows(store) -> dict[str, tuple]:
    cols = [REQUEST.c[c] for c in REQUEST_COLUMNS]
    with store.connect() as conn:
        return {row[0]: tuple(row) for row in conn.execute(select(*cols))}


def _request_count(store) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(REQUEST)).scalar()


def test_every_column_round_trips_with_nulls_unicode_and_the_largest_integers(store):
    nulls = record(id="nulls", route="ルート-α", user=None, key_id=None,
                   attempts=[attempt(error_kind=ErrorKind.server)])  # no usage, no deployment
    assert nulls.usage is None and nulls.deployment is None and nulls.optimal_cost_nano is None
    big = record(id="big-ü", route="big", ttft_ms=12.25).model_copy(update={
        "user": "zoë 🚀", "reason": "weighted; \"quoted\" \\ back\nslash", "stream": True,
        "est_prompt_tokens": INT4_MAX, "status": -(2**31),
        "usage": Usage(prompt_tokens=INT4_MAX, completion_tokens=0),
        "cost_nano": INT8_MAX, "optimal_cost_nano": -(2**63), "started_at": T0 + 0.123456789,
        "latency_ms": 1e-300})
    records = [nulls, big]
    store.write_records(records)

    stored = _stored_rows(store)
    for r in records:
        assert stored[r.id] == request_row(r, record_json(r))
        assert store.get_record(r.id) == r
    assert stored["nulls"][REQUEST_COLUMNS.index("prompt_tokens")] is None
    assert stored["big-ü"][REQUEST_COLUMNS.index("stream")] is True


def test_rows_land_in_insertion_order_for_the_live_tail(store):
    ids = [f"r{i}" for i in range(50)]
    store.write_records([record(id=i) for i in ids])
    page = store.records_after(0, limit=100)
    assert [r.id for r in page.records] == ids


@pytest.mark.parametrize(("field", "value", "column"), [
    ("est_prompt_tokens", 2**31, "est_prompt_tokens"),
    ("status", -(2**31) - 1, "status"),
    ("usage", Usage(prompt_tokens=1, completion_tokens=2**31), "completion_tokens"),
    ("cost_nano", 2**63, "cost_nano"),
])
def test_an_integer_out_of_its_column_range_is_a_data_error_naming_column_and_row(
        store, field, value, column):
    bad = record(id="too-big").model_copy(update={field: value})
    with pytest.raises(DataError) as caught:
        store.write_records([record(id="fine"), bad])
    message = str(caught.value.orig)
    assert "out of range" in message and f"column {column}" in message
    assert "'too-big'" in message
    assert _request_count(store) == 0  # neither the bad row nor its batch-mate


def test_a_duplicate_id_is_an_integrity_error(store):
    store.write_records([record(id="once")])
    with pytest.raises(IntegrityError) as caught:
        store.write_records([record(id="once")])
    assert "duplicate key" in str(caught.value.orig)


def test_a_value_postgresql_refuses_is_a_data_error(store):
    with pytest.raises(DataError) as caught:
        store.write_records([record(id="nul", route="chat\x00")])
    assert "0x00" in str(caught.value.orig)


def test_a_value_of_the_wrong_type_is_a_data_error_naming_the_table(store):
    row = list(request_row(record(id="typed"), "{}"))
    row[REQUEST_COLUMNS.index("latency_ms")] = "fast"
    with pytest.raises(DataError) as caught, store.begin() as conn:
        execute_rows(conn, REQUEST, REQUEST_COLUMNS, [tuple(row)])
    assert str(caught.value.orig).startswith("request: a value its column cannot take")
    assert _request_count(store) == 0


def test_a_lost_connection_is_an_operational_error_and_the_store_recovers(store):
    with pytest.raises(OperationalError), store.begin() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with store.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        execute_rows(conn, REQUEST, REQUEST_COLUMNS,
                     [request_row(record(id="lost"), "{}")])
    store.write_records([record(id="after")])  # a new connection from the pool
    assert set(_stored_rows(store)) == {"after"}


def test_a_batch_whose_copy_fails_writes_nothing(store):
    store.write_records([record(id="dup")])
    batch = [record(id=f"ok-{i}") for i in range(20)] + [record(id="dup")]
    with pytest.raises(IntegrityError):
        store.write_records(batch)
    assert set(_stored_rows(store)) == {"dup"}
    assert store.route_stats(0)["chat"].requests == 1
    assert store.counter("recorder.written") == 1


def test_a_batch_that_fails_after_its_copy_takes_its_rows_back(store):
    with store.begin() as conn:  # the counters, written after the rows, cannot be
        conn.execute(text("ALTER TABLE counter RENAME TO counter_away"))
    with pytest.raises(Exception, match="counter"):
        store.write_records([record(id=f"r{i}") for i in range(20)])
    assert _request_count(store) == 0
    assert store.route_stats(0) == {}


def test_the_recorder_drops_and_counts_only_the_record_out_of_range(store):
    bad = record(id="huge").model_copy(update={"est_prompt_tokens": 2**40})
    with Recorder(store, flush_interval_s=3600) as recorder:
        for r in [record(id="a"), record(id="b"), bad, record(id="c")]:
            recorder.submit(r)
        assert recorder.flush(timeout=10) is False
        stats = recorder.stats()
        assert (stats.written, stats.failed, stats.dropped, stats.queued) == (3, 1, 1, 0)
        assert "est_prompt_tokens" in stats.last_error and "'huge'" in stats.last_error
        recorder.submit(record(id="d"))  # the next write carries the drop to the store
        assert recorder.flush(timeout=10) is True
    assert set(_stored_rows(store)) == {"a", "b", "c", "d"}
    assert store.counter("recorder.dropped") == 1
    assert store.route_stats(0)["chat"].requests == 4

