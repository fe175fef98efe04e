"""Where the money went: spend by provider, model, deployment, route, user, key or
complexity over a range; actual against optimal; spend series for charts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from axtui.costs import queries as q
from axtui.costs.model import (
    BY,
    NONE_LABEL,
    Breakdown,
    DeploymentNames,
    Line,
    Opportunity,
    Optimal,
    RouteOptimal,
    connection,
    provider_model,
)


def breakdown(source: Any, by: str, since: float, until: float, *,
              deployments: DeploymentNames | None = None,
              regions: Mapping[str, str | None] | None = None) -> Breakdown:
    """Spend per `by` group over the whole minutes of [since, until). Every grouping adds up
    to the same total; provider, model and deployment count attempts (a failed-over attempt
    is charged where it ran), the others requests. Region groups requests by the region of
    the deployment that served them (`regions`, from the config: deployment_regions), so a
    deployment since removed from the config, or one without a region, is "(none)"."""
    if by not in BY:
        raise ValueError(f"unknown grouping {by!r}: use {', '.join(BY)}")
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with connection(source) as conn:
        if by in ("provider", "model", "deployment"):
            for dep, n, cost in q.attempt_totals(conn, since, until):
                provider, model = provider_model(dep, deployments)
                key = {"provider": provider, "model": model, "deployment": dep}[by]
                sums[key][0] += n
                sums[key][1] += cost
        elif by == "region":
            for _route, dep, n, cost, _opt in q.route_deployment_totals(conn, since, until):
                key = (regions or {}).get(dep) or NONE_LABEL
                sums[key][0] += n
                sums[key][1] += cost
        elif by == "route":
            for route, _dep, n, cost, _opt in q.route_deployment_totals(conn, since, until):
                sums[route][0] += n
                sums[route][1] += cost
        else:
            rows = q.raw_totals(conn, by, since, until)  # type: ignore[arg-type]
            for value, n, cost, _opt in rows:
                key = NONE_LABEL if value is None else str(value)
                sums[key][0] += n
                sums[key][1] += cost
    return _breakdown(by, since, until, sums)


def _breakdown(by: str, since: float, until: float, sums: dict[str, list[int]]) -> Breakdown:
    total = sum(c for _, c in sums.values())
    lines = [Line(key=k, requests=n, cost_nano=c, share=c / total if total else 0.0)
             for k, (n, c) in sums.items() if n or c]
    lines.sort(key=lambda ln: (-ln.cost_nano, -ln.requests, ln.key))
    return Breakdown(by=by, since=since, until=until, total_nano=total,
                     counted="attempts" if by in ("provider", "model", "deployment")
                     else "requests",
                     requests=sum(ln.requests for ln in lines), lines=lines)


def optimal(source: Any, since: float, until: float, *, top: int = 5) -> Optimal:
    """Actual spend against what the cheapest capable deployment of each request's route
    would have charged for the same tokens, and the route/deployment pairs that overspend
    most."""
    with connection(source) as conn:
        pairs = q.route_deployment_totals(conn, since, until)
    routes: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    opportunities = []
    for route, dep, n, cost, opt in pairs:
        r = routes[route]
        r[0] += n
        r[1] += cost
        r[2] += opt
        if dep and cost > opt:
            opportunities.append(Opportunity(route=route, deployment=dep, requests=n,
                                             cost_nano=cost, optimal_cost_nano=opt,
                                             overspend_nano=cost - opt))
    by_route = [RouteOptimal(route=k, requests=n, cost_nano=c, optimal_cost_nano=o,
                             overspend_nano=c - o) for k, (n, c, o) in routes.items() if n]
    by_route.sort(key=lambda r: (-r.overspend_nano, -r.cost_nano, r.route))
    opportunities.sort(key=lambda o: (-o.overspend_nano, o.route, o.deployment))
    cost = sum(r.cost_nano for r in by_route)
    opt = sum(r.optimal_cost_nano for r in by_route)
    return Optimal(since=since, until=until, cost_nano=cost, optimal_cost_nano=opt,
                   overspend_nano=cost - opt,
                   overspend_fraction=(cost - opt) / cost if cost else None,
                   routes=by_route, top=opportunities[:top])


def spend_series(source: Any, by: str = "provider", since: float = 0.0,
                 until: float = 0.0, step_s: int = 3600, *,
                 deployments: DeploymentNames | None = None
                 ) -> dict[str, list[tuple[int, int]]]:
    """Spend per `by` (provider, model, deployment, route or total) in step_s buckets:
    {name: [(bucket start, nano-dollars), ...]}, every name on the same buckets, empty
    buckets as 0, oldest first; for charts. Buckets start on multiples of step_s (UTC), so
    the first and last may hold only the part inside [since, until)."""
    if by not in ("provider", "model", "deployment", "route", "total"):
        raise ValueError(f"unknown series grouping {by!r}: use provider, model, deployment, "
                         "route or total")
    if step_s < q.MINUTE_S or step_s % q.MINUTE_S:
        raise ValueError(f"step must be a whole number of minutes, not {step_s}s")
    level = "deployment" if by in ("provider", "model", "deployment") else by
    with connection(source) as conn:
        rows = q.rolled_series(conn, level, since, until, step_s)  # type: ignore[arg-type]
    lo, hi = q.minutes(since, until)
    buckets = list(range(lo // step_s * step_s, hi, step_s))
    index = {b: i for i, b in enumerate(buckets)}
    out: dict[str, list[int]] = {}
    for b, name, cost in rows:
        if by in ("provider", "model"):
            name = provider_model(name, deployments)[0 if by == "provider" else 1]
        elif by == "total":
            name = "total"
        out.setdefault(name, [0] * len(buckets))[index[b]] += cost
    return {name: list(zip(buckets, v, strict=True)) for name, v in sorted(out.items())}
