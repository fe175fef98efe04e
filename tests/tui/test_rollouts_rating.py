"""The rollouts pane's gates column names the rating gate once callers rated a cohort."""

from __future__ import annotations

from axtui.snapshot.model import GateCheck
from axtui.tui.components.rollouts import _gates

from .views import flag


def test_a_failed_rating_gate_shows_beside_the_other_gates():
    f = flag("to_dear", verdict="no-go", checks=(
        GateCheck(name="error_rate", ok=True, observed=0.0, limit=0.05, detail=""),
        GateCheck(name="rating", ok=False, observed=0.2, limit=0.5, detail="")),
        cohort_ratings=40, cohort_rating=0.2, baseline_ratings=120, baseline_rating=0.6)
    assert _gates(f) == "✓err ✗rt"
