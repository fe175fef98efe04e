"""The SQL behind cost analytics: sums in the database, never a Python loop over rows.

Route and deployment totals come from the rollups, read at the coarsest resolution that
tiles the range (days inside, hours beside them, minutes at the edges: store/queries.py's
`covering`); user, key and complexity from raw `request` rows (the rollups do not carry
them) over the same whole minutes, so every grouping adds up to the same total.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from sqlalchemy import Connection, Integer, and_, cast, false, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB

from axtui.store.queries import covering
from axtui.store.rollups import MINUTE_S, RESOLUTIONS
from axtui.store.tables import RequestRow, rollup_table

RawDim = Literal["user", "key", "complexity"]
_R = RequestRow.__table__.c
_U = rollup_table.c


def minutes(since: float, until: float) -> tuple[int, int]:
    """The whole minutes overlapping [since, until)."""
    return (math.floor(since / MINUTE_S) * MINUTE_S, math.ceil(until / MINUTE_S) * MINUTE_S)


def _segments(lo: int, hi: int, step_s: int | None) -> list[tuple[int, int, int]]:
    """Rollup rows (res, start, end) tiling whole minutes [lo, hi): the coarsest that fit,
    or, for a series of step_s buckets from lo, only resolutions whose rows each fall inside
    one bucket."""
    if step_s is None:
        return covering(lo, hi)
    levels = [r for r in sorted(RESOLUTIONS, reverse=True) if step_s % r == 0 and lo % r == 0]
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


def _raw(since: float, until: float) -> list[Any]:
    lo, hi = minutes(since, until)
    return [_R.started_at >= lo, _R.started_at < hi]


def complexity_column(conn: Connection) -> Any:
    """The record's `complexity`, read from its JSON (no column holds it)."""
    if conn.dialect.name == "postgresql":
        return func.jsonb_extract_path_text(cast(_R.record, JSONB), "complexity")
    return func.json_extract(_R.record, "$.complexity")


def _raw_dim(conn: Connection, dim: RawDim) -> Any:
    return {"user": _R.user, "key": _R.key_id}.get(dim) if dim != "complexity" else \
        complexity_column(conn)


def route_deployment_totals(conn: Connection, since: float, until: float
                            ) -> list[tuple[str, str, int, int, int]]:
    """(route, serving deployment or "", requests, cost_nano, optimal_cost_nano) per pair."""
    q = (select(_U.route, _U.deployment, func.sum(_U.requests), func.sum(_U.cost_nano),
                func.sum(_U.optimal_cost_nano))
         .where(*_rolled(since, until)).group_by(_U.route, _U.deployment))
    return [(r, d, int(n or 0), int(c or 0), int(o or 0)) for r, d, n, c, o in conn.execute(q)]


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
    where a record has no optimal (no claimed saving), as the rollups count it."""
    col = _raw_dim(conn, dim)
    opt = func.coalesce(_R.optimal_cost_nano, _R.cost_nano)
    keys = [_R.route, col] if by_route else [col]
    q = (select(*keys, func.count(), func.sum(_R.cost_nano), func.sum(opt))
         .where(*_raw(since, until)))
    if route is not None:
        q = q.where(_R.route == route)
    q = q.group_by(*keys)
    out = []
    for row in conn.execute(q):
        *k, n, c, o = row
        out.append((*k, int(n), int(c or 0), int(o or 0)))
    return out


SeriesBy = Literal["deployment", "route", "total"]


def rolled_series(conn: Connection, by: SeriesBy, since: float, until: float, step_s: int,
                  *, route: str | None = None) -> list[tuple[int, str, int]]:
    """(bucket start, deployment/route/"", cost_nano) per step_s bucket from `since`'s
    minute, buckets without spend left out. By deployment counts attempt costs. step_s is a
    whole number of minutes."""
    lo, _ = minutes(since, until)
    bucket = (((_U.period - lo) // int(step_s)) * int(step_s) + lo).label("bucket")
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
    """(bucket start, cost_nano) for one user's or key's requests."""
    lo, _ = minutes(since, until)
    bucket = (cast((_R.started_at - lo) / int(step_s), Integer) * int(step_s) + lo)
    q = select(bucket, func.sum(_R.cost_nano)).where(*_raw(since, until))
    if user is not None:
        q = q.where(_R.user == user)
    if key is not None:
        q = q.where(_R.key_id == key)
    return [(int(b), int(c)) for b, c in conn.execute(q.group_by(bucket)) if c]
