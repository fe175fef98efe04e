"""tests/slo/test_slo_measure.py, every test, against a real PostgreSQL server: the SLO
reads are plain SQL (slo/measure.py), so both databases must answer them alike."""

from __future__ import annotations

import pytest

from axtui.clock import VirtualClock
from axtui.store import open_store
from tests.slo.test_slo_measure import *  # noqa: F403  (the same specification)
from tests.store.factory import T0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=T0)


@pytest.fixture
def store(pg_url, clock):  # noqa: F811  (replaces the SQLite store)
    s = open_store(pg_url, clock=clock)
    yield s
    s.close()
