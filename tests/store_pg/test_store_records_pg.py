"""tests/store/test_store_records.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from axtui.store import open_store
from tests.store.test_store_records import *  # noqa: F403  (the same specification)


@pytest.fixture
def store(pg_url):  # noqa: F811  (replaces the module's SQLite store)
    s = open_store(pg_url)
    yield s
    s.close()


# SQLite's WAL set-up has no PostgreSQL counterpart: that test stays with tests/store.
del test_open_store_sets_sqlite_up_for_several_processes  # noqa: F821
