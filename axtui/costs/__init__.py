"""Cost analytics over the store: breakdowns, actual against optimal, projections, budget
status and recommendations. No UI, no HTTP: the CLI, the snapshot and the console render
these models. Money is integer nano-dollars throughout."""

from axtui.costs.advice import Recommendation, recommendations
from axtui.costs.breakdown import breakdown, optimal, spend_series
from axtui.costs.budgets import BudgetLine, budget_status
from axtui.costs.folded import fold, prune
from axtui.costs.free_tier import FreeTierShare, free_deployments, free_tier_share
from axtui.costs.model import (
    BY,
    Breakdown,
    Line,
    Opportunity,
    Optimal,
    RouteOptimal,
    deployment_names,
    deployment_regions,
)
from axtui.costs.projection import Projection, projection
from axtui.costs.summary import Summary, summary
from axtui.costs.window import Window, window

__all__ = [
    "BY", "Breakdown", "FreeTierShare", "deployment_regions", "free_deployments",
    "free_tier_share", "BudgetLine", "Line", "Opportunity", "Optimal", "Projection",
    "Recommendation", "RouteOptimal", "Summary", "Window", "breakdown", "budget_status",
    "deployment_names", "fold", "optimal", "projection", "prune", "recommendations", "spend_series",
    "summary", "window",
]
