"""tests/costs/test_budgets_and_advice.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from axtui.store import open_store
from tests.costs.test_budgets_and_advice import *  # noqa: F403  (the same specification)


@pytest.fixture(params=["raw", "half-folded"])
def store(request, pg_url):  # noqa: F811  (replaces the SQLite store of tests/costs)
    s = open_store(pg_url)
    s.fold_half = request.param == "half-folded"
    yield s
    s.close()
