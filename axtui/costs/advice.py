"""Recommendations in plain words, each computed from the store's numbers; none when the
numbers do not support one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from axtui.costs import queries as q
from axtui.costs.breakdown import optimal
from axtui.costs.budgets import BudgetLine
from axtui.costs.model import Frozen, connection
from axtui.records import NANO_PER_USD
from axtui.units import pct, usd

MIN_SAVING_NANO = 10_000_000  # $0.01: below this a saving is not worth a sentence
MIN_SIMPLE_SHARE = 0.25  # simple requests must be at least this share of a route's
MIN_SHARE_OF_SPEND = 0.01  # and the saving at least this share of the route's spend
MIN_OVERSPEND = 0.10  # a pair must overspend by at least this share of its cost


class Recommendation(Frozen):
    kind: Literal["simple_requests", "overspend", "budget"]
    subject: str  # the route, route/deployment pair or budget scope
    text: str
    saving_nano: int | None  # what acting on it would have saved over the range
    evidence: dict[str, int | float | str]


def money(nano: int) -> str:
    """Cents once amounts are large, else four places (small sums must not print as $0.00)."""
    return usd(nano, 2 if abs(nano) >= 100 * NANO_PER_USD else 4)


def span_words(seconds: float) -> str:
    if seconds >= 1.5 * 86_400:
        return f"{seconds / 86_400:.0f} days"
    if seconds >= 5400:
        return f"{seconds / 3600:.0f} hours"
    return f"{max(1.0, seconds / 60):.0f} minutes"


def _cheapest(config: Any, route: str) -> str | None:
    """The route's candidate with the lowest list price (prompt + completion per token)."""
    if config is None or route not in config.routes:
        return None
    from axtui.engine.catalog import Catalog

    cat = Catalog(config)
    known = [cat[d] for d in config.routes[route].candidates if d in cat.specs]
    return min(known, key=lambda s: (s.price_in + s.price_out, s.id)).id if known else None


def _simple(conn: Any, since: float, until: float, min_saving: int, config: Any
            ) -> list[Recommendation]:
    per_route: dict[str, dict[str, tuple[int, int, int]]] = {}
    for route, level, n, cost, opt in q.raw_totals(conn, "complexity", since, until,
                                                   by_route=True):
        per_route.setdefault(route, {})[level or ""] = (n, cost, opt)
    out = []
    for route, levels in sorted(per_route.items()):
        total_n = sum(n for n, _, _ in levels.values())
        total_cost = sum(c for _, c, _ in levels.values())
        n, cost, opt = levels.get("simple", (0, 0, 0))
        saving = cost - opt
        if (not total_n or n / total_n < MIN_SIMPLE_SHARE or saving < min_saving
                or saving < MIN_SHARE_OF_SPEND * total_cost):
            continue
        target = _cheapest(config, route)
        to = f"the cheapest capable deployment ({target} by list price)" if target else \
            "the cheapest capable deployment"
        text = (f"{pct(n / total_n, 0)} of {route} requests are simple ({n:,} of {total_n:,});"
                f" routing them to {to} would have saved {money(saving)} over "
                f"{span_words(until - since)} ({pct(saving / cost, 0)} of their "
                f"{money(cost)}).")
        cfg_route = config.routes.get(route) if config is not None else None
        if cfg_route is not None and not cfg_route.simple_to_small:
            text += (f" Set simple_to_small = true on route {route}, or add a rule matching "
                     'complexity = "simple".')
        out.append(Recommendation(
            kind="simple_requests", subject=route, text=text, saving_nano=saving,
            evidence={"requests": total_n, "simple_requests": n, "simple_cost_nano": cost,
                      "simple_optimal_nano": opt}))
    return out


def _overspend(conn: Any, since: float, until: float, min_saving: int, config: Any
               ) -> list[Recommendation]:
    out = []
    for o in optimal(conn, since, until, top=3).top:
        if o.overspend_nano < min_saving or o.overspend_nano < MIN_OVERSPEND * o.cost_nano:
            continue
        text = (f"route {o.route}: {o.requests:,} requests served by {o.deployment} cost "
                f"{money(o.cost_nano)}; the cheapest capable deployment would have charged "
                f"{money(o.optimal_cost_nano)} for the same tokens "
                f"({money(o.overspend_nano)} or {pct(o.overspend_nano / o.cost_nano, 0)} "
                f"less over {span_words(until - since)}).")
        cfg_route = config.routes.get(o.route) if config is not None else None
        if cfg_route is not None and cfg_route.strategy != "cost":
            text += (f' Its strategy is "{cfg_route.strategy}"; "cost" tries the cheapest '
                     "capable deployment first.")
        out.append(Recommendation(
            kind="overspend", subject=f"{o.route}/{o.deployment}", text=text,
            saving_nano=o.overspend_nano,
            evidence={"requests": o.requests, "cost_nano": o.cost_nano,
                      "optimal_cost_nano": o.optimal_cost_nano}))
    return out


def _budget(lines: list[BudgetLine]) -> list[Recommendation]:
    out = []
    for b in lines:
        what = f"the {'daily' if b.period == 'day' else 'monthly'} budget for {b.scope}"
        limit = money(b.limit_nano)
        if b.spent_nano >= b.limit_nano:
            text = (f"{what} ({limit}) is spent: {money(b.spent_nano)}; requests it covers "
                    f"are refused until {_clock(b.period_end)}.")
        elif b.projected_nano is not None and b.projected_nano > b.limit_nano:
            text = (f"{what} ({limit}) is projected to reach {money(b.projected_nano)} by "
                    f"{_clock(b.period_end)} ({pct(b.used, 0)} used so far, by "
                    f"{b.projection_method}); raise it or move traffic to cheaper "
                    "deployments before it refuses requests.")
        else:
            continue
        out.append(Recommendation(
            kind="budget", subject=b.scope, text=text, saving_nano=None,
            evidence={"limit_nano": b.limit_nano, "spent_nano": b.spent_nano,
                      "projected_nano": b.projected_nano or 0}))
    return out


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def recommendations(source: Any, since: float, until: float, *, config: Any = None,
                    budgets: list[BudgetLine] | None = None,
                    min_saving_nano: int = MIN_SAVING_NANO) -> list[Recommendation]:
    """What to change, from [since, until): budgets spent or projected to run out (pass
    `budget_status(...)`), then simple requests sent to dear deployments, then route/
    deployment pairs that overspend, each kind by saving. `config` names deployments and
    settings when given."""
    with connection(source) as conn:
        out = _budget(budgets or [])
        for found in (_simple(conn, since, until, min_saving_nano, config),
                      _overspend(conn, since, until, min_saving_nano, config)):
            out += sorted(found, key=lambda r: -(r.saving_nano or 0))
    return out
