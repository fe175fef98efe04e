"""Each configured budget ([[budgets]]) against the store: spent so far this period, the
share used, and where the period is projected to end."""

from __future__ import annotations

from typing import Any

from axtui.costs import queries as q
from axtui.costs.model import Frozen, connection
from axtui.costs.projection import projection
from axtui.costs.window import period_end, period_start
from axtui.records import NANO_PER_USD


class BudgetLine(Frozen):
    budget: str  # the configured scope: "global", "route:chat", "user:*"
    scope: str  # the concrete scope charged: "user:alice"
    period: str
    period_start: float
    period_end: float
    limit_nano: int
    spent_nano: int
    used: float  # spent / limit
    projected_nano: int | None
    projected_used: float | None
    projected_high_nano: int | None  # the 95% interval's top
    projection_method: str  # "trend" or "share of global" (wildcard scopes)
    thresholds_crossed: list[int]  # of the budget's thresholds (percent)


def budget_status(source: Any, budgets: list[Any], at: float) -> list[BudgetLine]:
    """One line per budget, or per charged user/key for `user:*` / `key:*`, highest use
    first within each budget."""
    out: list[BudgetLine] = []
    global_by_period: dict[str, Any] = {}
    with connection(source) as conn:
        for b in budgets:
            start, end = period_start(at, b.period), period_end(at, b.period)
            limit = int(b.limit_usd * NANO_PER_USD)
            kind, _, target = b.scope.partition(":")
            global_p = global_by_period.get(b.period)
            if global_p is None:
                global_p = global_by_period[b.period] = projection(conn, b.period, at)
            if kind == "global":
                spent = {"global": global_p.spent_nano}
            else:
                spent = {}
                rows = ([(r, c) for r, _d, _n, c, _o in q.route_deployment_totals(conn, start, at)]
                        if kind == "route" else
                        [(v, c) for v, _n, c, _o in q.raw_totals(conn, kind, start, at)
                         if v is not None])
                for name, c in rows:  # a route's rows are per deployment: add them up
                    spent[f"{kind}:{name}"] = spent.get(f"{kind}:{name}", 0) + c
            if target not in ("", "*"):
                spent = {b.scope: sum(c for s, c in spent.items() if s == b.scope)}
            lines = []
            for scope, s in spent.items():
                if target == "*":
                    share = s / global_p.spent_nano if global_p.spent_nano else 0.0
                    proj, high, how = (round(global_p.projected_nano * share),
                                       None if global_p.high_nano is None
                                       else round(global_p.high_nano * share),
                                       "share of global")
                else:
                    p = global_p if kind == "global" else projection(conn, b.period, at,
                                                                     scope=scope)
                    proj, high, how = p.projected_nano, p.high_nano, "trend"
                lines.append(BudgetLine(
                    budget=b.scope, scope=scope, period=b.period, period_start=start,
                    period_end=end, limit_nano=limit, spent_nano=s,
                    used=s / limit if limit else 0.0, projected_nano=proj,
                    projected_used=proj / limit if limit else None, projected_high_nano=high,
                    projection_method=how,
                    thresholds_crossed=[t for t in b.thresholds if s * 100 >= t * limit]))
            lines.sort(key=lambda ln: (-ln.used, ln.scope))
            out.extend(lines)
    return out
