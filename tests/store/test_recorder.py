"""The recorder: batching by interval, by size and on close; overflow and write errors
counted and reported, never silent."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from axtui.store import Recorder, open_store
from axtui.store.ingest import DROPPED_COUNTER, WRITTEN_COUNTER
from axtui.traces.jsonl import read_trace
from tests.store.factory import record


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'axtui.db'}")
    yield s
    s.close()


def stored(store) -> int:
    with store.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM request")).scalar()


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_records_are_written_within_the_flush_interval_without_asking(store):
    with Recorder(store, flush_interval_s=0.05) as recorder:
        for _ in range(10):
            assert recorder.submit(record())
        # stats move right after the commit: once they say so, the rows are there
        assert wait_for(lambda: recorder.stats().written == 10, timeout=2)
        assert stored(store) == 10
        stats = recorder.stats()
        assert stats.flushes >= 1 and stats.queued == 0
        assert stats.last_flush_at is not None and stats.last_error is None


def test_a_full_batch_is_written_before_the_interval_ends(store):
    with Recorder(store, flush_interval_s=3600, batch_max=100) as recorder:
        for _ in range(100):
            recorder.submit(record())
        assert wait_for(lambda: recorder.stats().written == 100, timeout=2)
        assert stored(store) == 100 and recorder.stats().flushes == 1


def test_close_writes_everything_queued(store):
    recorder = Recorder(store, flush_interval_s=3600, batch_max=500)
    for _ in range(1234):  # two full batches and a partial one
        recorder.submit(record())
    recorder.close()
    assert stored(store) == 1234
    stats = recorder.stats()
    assert (stats.written, stats.queued, stats.dropped) == (1234, 0, 0)
    assert store.counter(WRITTEN_COUNTER) == 1234


async def test_aflush_and_aclose_write_without_blocking_the_loop(store):
    recorder = Recorder(store, flush_interval_s=3600)
    recorder.submit(record())
    assert await recorder.aflush(timeout=5)
    assert stored(store) == 1
    for _ in range(7):
        recorder.submit(record())
    await recorder.aclose()
    assert stored(store) == 8


def test_flush_returns_once_everything_submitted_is_stored(store):
    with Recorder(store, flush_interval_s=3600) as recorder:
        recorder.submit(record(id="a"))
        assert recorder.flush(timeout=5)
        assert store.get_record("a") is not None


def test_a_full_queue_refuses_and_counts_every_record_it_drops(store):
    recorder = Recorder(store, flush_interval_s=3600, queue_max=10)
    accepted = [recorder.submit(record()) for _ in range(25)]
    assert accepted == [True] * 10 + [False] * 15
    stats = recorder.stats()
    assert (stats.refused, stats.dropped, stats.queued) == (15, 15, 10)
    recorder.close()
    assert stored(store) == 10
    # Other processes (the console) see the drops in the store.
    assert store.counter(DROPPED_COUNTER) == 15


def test_submit_after_close_is_refused_and_counted(store):
    recorder = Recorder(store)
    recorder.close()
    assert recorder.submit(record()) is False
    assert recorder.stats().refused == 1


def test_a_write_error_is_counted_reported_and_logged_once(store, caplog):
    with store.begin() as conn:
        conn.execute(text("DROP TABLE request"))
    recorder = Recorder(store, flush_interval_s=0.01, max_write_tries=3)
    caplog.set_level(logging.INFO, logger="axtui.store.recorder")
    for _ in range(5):
        recorder.submit(record())
    assert recorder.flush(timeout=5) is False
    stats = recorder.stats()
    assert stats.write_errors == 3
    assert (stats.failed, stats.dropped, stats.written, stats.queued) == (5, 5, 0, 0)
    assert "no such table: request" in stats.last_error
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "no such table: request" in errors[0].getMessage()
    recorder.close()


def test_a_failing_write_is_retried_and_nothing_is_lost(store):
    real_write = store.write_prepared
    failures = iter([OperationalError("INSERT", {}, Exception("database is locked"))] * 2)

    def flaky_write(batch, **kw):
        error = next(failures, None)
        if error is not None:
            raise error
        return real_write(batch, **kw)

    store.write_prepared = flaky_write
    with Recorder(store, flush_interval_s=0.01, max_write_tries=5) as recorder:
        for _ in range(20):
            recorder.submit(record())
        assert recorder.flush(timeout=5)
        stats = recorder.stats()
    assert stored(store) == 20
    assert (stats.write_errors, stats.failed, stats.written) == (2, 0, 20)
    assert stats.last_error == "Exception: database is locked"


def test_a_record_that_cannot_be_serialized_is_counted_and_the_rest_are_written(store):
    bad = record().model_copy(update={"messages": [{"blob": object()}]})
    with Recorder(store, flush_interval_s=3600) as recorder:
        recorder.submit(record(id="good-1"))
        recorder.submit(bad)
        recorder.submit(record(id="good-2"))
        assert recorder.flush(timeout=5) is False
        stats = recorder.stats()
    assert (stats.written, stats.failed, stats.dropped) == (2, 1, 1)
    assert bad.id in stats.last_error
    assert store.get_record("good-1") and store.get_record("good-2")


def test_the_same_records_are_appended_to_a_jsonl_trace(store, tmp_path):
    path = tmp_path / "traces" / "run.jsonl"
    submitted = [record() for _ in range(30)]
    with Recorder(store, trace_path=path, batch_max=7) as recorder:
        for r in submitted:
            recorder.submit(r)
    assert recorder.stats().traced == 30
    trace = read_trace(path)
    assert trace.records == submitted and trace.bad_lines == []


def test_stats_count_queued_records_until_written(store):
    recorder = Recorder(store, flush_interval_s=3600)
    for _ in range(3):
        recorder.submit(record())
    assert recorder.stats().queued == 3
    assert recorder.flush(timeout=5)
    assert recorder.stats().queued == 0
    recorder.close()


def test_a_record_that_breaks_its_batch_fails_alone(store, caplog):
    store.write_records([record(id="dup")])  # already stored: a second copy is refused
    nan_end = record(id="nan").model_copy(update={"ended_at": float("nan")})
    batch = [record(id=f"ok-{i}") for i in range(10)]
    batch[3:3] = [record(id="dup"), nan_end]
    with Recorder(store, flush_interval_s=3600) as recorder:
        for r in batch:
            recorder.submit(r)
        assert recorder.flush(timeout=10) is False
        stats = recorder.stats()
    assert (stats.written, stats.failed, stats.queued) == (10, 2, 0)
    assert all(store.get_record(f"ok-{i}") for i in range(10))
    assert store.get_record("nan") is None
    # rollups count what was stored, not what was refused
    assert store.route_stats(0)["chat"].requests == 11
    assert len([r for r in caplog.records if "UNIQUE" in r.getMessage()]) == 1
