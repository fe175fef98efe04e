"""Everything a person asks first about money, in one call: spent today, this week and
month, where it is heading, what it could have cost, budgets, and what to change."""

from __future__ import annotations

from typing import Any

from axtui.costs.advice import Recommendation, recommendations
from axtui.costs.breakdown import breakdown, optimal
from axtui.costs.budgets import BudgetLine, budget_status
from axtui.costs.free_tier import FreeTierShare, free_deployments, free_tier_share
from axtui.costs.model import Breakdown, Frozen, Optimal, connection, deployment_names
from axtui.costs.projection import Projection, projection
from axtui.costs.window import period_start

ADVICE_WINDOW_S = 7 * 86_400


class Summary(Frozen):
    at: float
    today_nano: int
    week_nano: int
    month_nano: int
    day: Projection
    month: Projection
    providers_today: Breakdown
    routes_today: Breakdown
    optimal_7d: Optimal
    budgets: list[BudgetLine]
    recommendations: list[Recommendation]
    free_tier_today: FreeTierShare | None = None  # with a config: which deployments are free


def summary(source: Any, at: float, *, config: Any = None) -> Summary:
    names = deployment_names(config) if config is not None else None
    with connection(source) as conn:
        day0 = period_start(at, "day")
        providers = breakdown(conn, "provider", day0, at, deployments=names)
        budgets = budget_status(conn, list(config.budgets) if config is not None else [], at)
        return Summary(
            at=at,
            today_nano=providers.total_nano,
            week_nano=breakdown(conn, "route", period_start(at, "week"), at).total_nano,
            month_nano=breakdown(conn, "route", period_start(at, "month"), at).total_nano,
            day=projection(conn, "day", at),
            month=projection(conn, "month", at),
            providers_today=providers,
            routes_today=breakdown(conn, "route", day0, at),
            optimal_7d=optimal(conn, at - ADVICE_WINDOW_S, at),
            budgets=budgets,
            recommendations=recommendations(conn, at - ADVICE_WINDOW_S, at, config=config,
                                            budgets=budgets),
            free_tier_today=(free_tier_share(conn, day0, at, free_deployments(config))
                             if config is not None else None),
        )
