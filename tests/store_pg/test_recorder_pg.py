"""tests/store/test_recorder.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from axtui.store import Recorder, open_store
from tests.store.factory import record
from tests.store.test_recorder import *  # noqa: F403  (the same specification)


@pytest.fixture
def store(pg_url):  # noqa: F811  (replaces the module's SQLite store)
    s = open_store(pg_url)
    yield s
    s.close()


# PostgreSQL words its errors differently; the behaviour asserted is the same.


def test_a_write_error_is_counted_reported_and_logged_once(store, caplog):
    with store.begin() as conn:
        conn.execute(text("DROP TABLE request CASCADE"))
    recorder = Recorder(store, flush_interval_s=0.01, max_write_tries=3)
    caplog.set_level(logging.INFO, logger="axtui.store.recorder")
    for _ in range(5):
        recorder.submit(record())
    assert recorder.flush(timeout=5) is False
    stats = recorder.stats()
    assert stats.write_errors == 3
    assert (stats.failed, stats.dropped, stats.written, stats.queued) == (5, 5, 0, 0)
    assert 'relation "request" does not exist' in stats.last_error
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and 'relation "request" does not exist' in errors[0].getMessage()
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
    assert store.route_stats(0)["chat"].requests == 11
    assert len([r for r in caplog.records if "duplicate key" in r.getMessage()]) == 1
