"""tests/store/test_metrics.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from axtui.store import open_store
from tests.store.test_metrics import *  # noqa: F403  (the same specification)


@pytest.fixture
def store(pg_url):  # noqa: F811  (replaces the module's SQLite store)
    s = open_store(pg_url)
    yield s
    s.close()
