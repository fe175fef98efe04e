"""tests/store/test_control.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from tests.store.test_control import *  # noqa: F403  (the same specification)


@pytest.fixture
def url(pg_url):  # noqa: F811  (replaces the module's SQLite file)
    return pg_url
