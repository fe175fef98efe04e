"""The SQL behind cost analytics: sums in the database, never a Python loop over rows.

Route and deployment totals come from the rollups, read at the coarsest resolution that
tiles the range (days inside, hours beside them, minutes at the edges: store/windows.py's
`covering`); user, key and complexity (which the rollups do not carry) from the folded hour
and day rows plus raw `request` rows for the rest (folded.py), over the same whole minutes,
so every grouping adds up to the same total.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from sqlalchemy import Connection, and_, false, func, or_, select

from axtui.costs import folded
from axtui.store.rollups import MINUTE_S, RESOLUTIONS
from axtui.store.tables import rollup_table
from axtui.store.windows import covering

RawDim = Literal["user", "key", "complexity"]
_U = rollup_table.c


def minutes(since: float, until: float) -> tuple[int, int]:
    """The whole minutes overlapping [since, until)."""
    return (math.floor(since / MINUTE_S) * MINUTE_S, math.ceil(until / MINUTE_S) * MINUTE_S)


def _segments(lo: int, hi: int, step_s: int | None) -> list[tuple[int, int, int]]:
    """Rollup rows (res, start, end) tiling whole minutes [lo, hi): the coarsest that fit,
    or, for a series of step_s buckets (on multiples of step_s), only resolutions whose rows
    each fall inside one bucket."""
    if step_s is None:
        return covering(lo, hi)
    levels = [r for r in sorted(RESOLUTIONS, reverse=True) if step_s % r == 0]
    out: list[tuple[int, int, int]] = []

    def tile(a: int, b: int, levels: list[int]) -> None:
        if a >= b or not levels:
            return
        res = levels[0]
        first, last = -(-a // res) * res, b // res * res
        if first >= last:
            tile(a, b, levels[1:])
            return
        tile(a, first, levels[1:])
        out.append((res, first, last))
        tile(last, b, levels[1:])

    tile(lo, hi, levels)
    return out


def _rolled(since: float, until: float, step_s: int | None = None) -> list[Any]:
    segments = _segments(*minutes(since, until), step_s)
    if not segments:
        return [false()]
    return [or_(*(and_(_U.res == res, _U.period >= a, _U.period < b)
                  for res, a, b in segments))]


def route_deployment_totals(conn: Connection, since: float, until: float
                            ) -> list[tuple[str, str, int, int, int]]:
    """(route, serving deployment or "", requests, cost_nano, optimal_cost_nano) per pair."""
    q = (select(_U.route, _U.deployment, func.sum(_U.requests), func.sum(_U.cost_nano),
                func.sum(_U.optimal_cost_nano))
         .where(*_rolled(since, until)).group_by(_U.route, _U.deployment))
    return [(r, d, int(n or 0), int(c or 0), int(o or 0)) for r, d, n, c, o in conn.execute(q)]


def served_totals(conn: Connection, since: float, until: float
                  ) -> list[tuple[str, int, int, int]]:
    """(serving deployment, requests, ok requests, cost_nano) per deployment that served."""
    q = (select(_U.deployment, func.sum(_U.requests), func.sum(_U.ok), func.sum(_U.cost_nano))
         .where(*_rolled(since, until)).group_by(_U.deployment))
    return [(d, int(n or 0), int(k or 0), int(c or 0)) for d, n, k, c in conn.execute(q) if d]


def attempt_totals(conn: Connection, since: float, until: float
                   ) -> list[tuple[str, int, int]]:
    """(deployment, attempts, cost_nano) per attempted deployment: failed-over attempts'
    costs count where they ran."""
    q = (select(_U.deployment, func.sum(_U.attempts), func.sum(_U.attempt_cost_nano))
         .where(*_rolled(since, until)).group_by(_U.deployment))
    return [(d, int(n or 0), int(c or 0)) for d, n, c in conn.execute(q) if d]


def raw_totals(conn: Connection, dim: RawDim, since: float, until: float, *,
               route: str | None = None, by_route: bool = False
               ) -> list[tuple[Any, ...]]:
    """(value, requests, cost_nano, optimal_cost_nano) per value of `dim` (None where the
    record has none), or (route, value, ...) with `by_route`. Optimal is the actual cost
    where a record has no optimal (no claimed saving), as the rollups count it. Read from
    the folded rows (folded.py) plus raw rows for what is not folded; per route only for
    complexity."""
    rows = folded.dim_rows(conn, dim, *minutes(since, until), by_route=by_route or
                           route is not None)
    out = []
    for row in rows:
        if route is not None:
            if row[0] != route:
                continue
            row = row[1:] if not by_route else row
        *k, value, n, c, o = row
        out.append((*k, value or None, n, c, o))
    return out


SeriesBy = Literal["deployment", "route", "total"]


def rolled_series(conn: Connection, by: SeriesBy, since: float, until: float, step_s: int,
                  *, route: str | None = None) -> list[tuple[int, str, int]]:
    """(bucket start, deployment/route/"", cost_nano) per step_s bucket (buckets start on
    multiples of step_s; the first and last may be cut by the range), buckets without spend
    left out. By deployment counts attempt costs. step_s is a whole number of minutes."""
    bucket = ((_U.period // int(step_s)) * int(step_s)).label("bucket")
    cost = _U.attempt_cost_nano if by == "deployment" else _U.cost_nano
    keys = [bucket] + ([_U.deployment] if by == "deployment" else
                       [_U.route] if by == "route" else [])
    q = select(*keys, func.sum(cost)).where(*_rolled(since, until, int(step_s)))
    if route is not None:
        q = q.where(_U.route == route)
    q = q.group_by(*keys)
    out = []
    for row in conn.execute(q):
        b, *name, c = row
        if c:
            out.append((int(b), name[0] if name else "", int(c)))
    return out


def raw_series(conn: Connection, since: float, until: float, step_s: int, *,
               user: str | None = None, key: str | None = None) -> list[tuple[int, int]]:
    """(bucket start, cost_nano) for one user's or key's requests, in buckets on multiples
    of step_s (a whole number of minutes)."""
    dim, value = ("user", user) if user is not None else ("key", key)
    rows = folded.dim_rows(conn, dim, *minutes(since, until), value=value, step_s=step_s)
    by_bucket: dict[int, int] = {}
    for b, _value, _n, c, _o in rows:
        by_bucket[int(b)] = by_bucket.get(int(b), 0) + c
    return sorted((b, c) for b, c in by_bucket.items() if c)
