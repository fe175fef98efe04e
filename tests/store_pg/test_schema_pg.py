"""tests/store/test_schema.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from tests.store.test_schema import *  # noqa: F403  (the same specification)


@pytest.fixture
def url(pg_empty_url):  # noqa: F811  (replaces the module's SQLite file)
    return pg_empty_url
