"""A real SQLite store per test, filled through the real Recorder."""

from __future__ import annotations

import pytest

from axtui.costs.folded import fold
from axtui.records import Attempt, RequestRecord, Usage
from axtui.store import Recorder, open_store
from tests.store.factory import T0, record

HOUR = 3600.0


@pytest.fixture(params=["raw", "half-folded"])
def store(request, tmp_path):
    """Every cost test runs on raw rows alone and with the older half of them folded into
    cost_rollups (the rest read raw): the answers must be the same."""
    s = open_store(f"sqlite:///{tmp_path / 'axtui.db'}")
    s.fold_half = request.param == "half-folded"
    yield s
    s.close()


def fill(store, records: list[RequestRecord]) -> None:
    rec = Recorder(store)
    for r in records:
        assert rec.submit(r)
    rec.close()
    assert rec.stats().written == len(records)
    if getattr(store, "fold_half", False):
        assert fold(store, max_rows=len(records) // 2) == len(records) // 2


def served(deployment: str, cost: int, *, at: float = T0, route: str = "chat",
           optimal: int | None = None, user: str | None = "alice", key: str | None = "k1",
           complexity: str | None = None, prompt: int = 100, completion: int = 20
           ) -> RequestRecord:
    """One request served by `deployment` at `cost` nano-dollars (optimal: the cheapest
    capable deployment's cost; default the same, no saving)."""
    a = Attempt(deployment=deployment, started_at=at, latency_ms=300.0, status=200,
                usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
                cost_nano=cost)
    r = record(started_at=at, route=route, attempts=[a], user=user, key_id=key)
    return r.model_copy(update={"optimal_cost_nano": cost if optimal is None else optimal,
                                "complexity": complexity})
