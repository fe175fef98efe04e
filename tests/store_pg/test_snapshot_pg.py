"""tests/snapshot/test_build.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from axtui.store import open_store
from tests.snapshot.test_build import *  # noqa: F403  (the same specification)


@pytest.fixture
def store(pg_url):  # noqa: F811  (replaces the module's SQLite store)
    s = open_store(pg_url, clock=VirtualClock(start=NOW - 60))  # noqa: F405
    yield s
    s.close()


def test_a_read_transaction_sees_one_moment_while_another_process_writes(store, pg_url):
    other = open_store(pg_url)  # the writer opens the same database (SQLite: the same file)
    count = select(func.count()).select_from(RequestRow.__table__)  # noqa: F405
    try:
        with store.read() as conn:
            before = conn.execute(count).scalar()
            other.write_records([record(started_at=NOW)])  # noqa: F405
            assert conn.execute(count).scalar() == before
        with store.read() as conn:
            assert conn.execute(count).scalar() == before + 1
    finally:
        other.close()
