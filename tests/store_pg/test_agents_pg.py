"""tests/agents/test_agent.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from axtui.store import open_store
from tests.agents.test_agent import *  # noqa: F403  (the same specification)


@pytest.fixture
def store(pg_url):  # noqa: F811  (replaces the SQLite store of tests/agents)
    st = open_store(pg_url)
    yield st
    st.close()
