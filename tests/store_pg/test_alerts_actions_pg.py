"""tests/alerts/test_actions.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from axtui.store import open_store
from tests.alerts.conftest import clock  # noqa: F401  (its fixture)
from tests.alerts.test_actions import *  # noqa: F403  (the same specification)


@pytest.fixture
def store_url(pg_url):  # noqa: F811  (other processes open the store by its URL)
    return pg_url


@pytest.fixture
def store(pg_url, clock):  # noqa: F811  (replaces the SQLite store of tests/alerts)
    st = open_store(pg_url, clock=clock)
    yield st
    st.close()
