"""Reading rollups over a window: the fewest periods that tile it (days inside, hours
beside them, minutes at the edges), and one scope's summed counters and merged histograms,
whole or per step (what store/metrics.py computes its metrics from)."""

from __future__ import annotations

import functools
import math
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    ColumnElement,
    Connection,
    TextClause,
    and_,
    false,
    func,
    literal,
    or_,
    select,
    text,
)

from axtui.quantiles import BUCKETS_PER_DOUBLING
from axtui.store.rollups import DAY_S, HOUR_S, MINUTE_S
from axtui.store.tables import SLOTS, rollup_hist_table, rollup_table

Segment = tuple[int, int, int]  # res, start, end: rows of that res with start <= period < end
_U = rollup_table.c
_H = rollup_hist_table.c
_END_OF_TIME = 2**62 // DAY_S * DAY_S  # an open range's end: past every stored period


def minutes(since_ts: float, until_ts: float | None) -> tuple[int, int | None]:
    lo = math.floor(since_ts / MINUTE_S) * MINUTE_S
    hi = None if until_ts is None else math.ceil(until_ts / MINUTE_S) * MINUTE_S
    return lo, hi


def covering(lo: int, hi: int) -> list[Segment]:
    """Whole minutes [lo, hi) as the fewest rows: days inside, then hours, then minutes."""
    out: list[Segment] = []

    def tile(a: int, b: int, levels: tuple[int, ...]) -> None:
        if a >= b:
            return
        res, finer = levels[0], levels[1:]
        first, last = -(-a // res) * res, b // res * res  # a and b are whole minutes
        if first >= last:
            tile(a, b, finer)
            return
        tile(a, first, finer)
        out.append((res, first, last))
        tile(last, b, finer)

    tile(lo, hi, (DAY_S, HOUR_S, MINUTE_S))
    return sorted(out, key=lambda s: s[1])


def merge_segments(segments: list[Segment]) -> list[Segment]:
    """Adjacent segments of one resolution as one (fewer OR terms in the query)."""
    out: list[Segment] = []
    for seg in sorted(segments, key=lambda s: s[1]):
        if out and out[-1][0] == seg[0] and out[-1][2] == seg[1]:
            out[-1] = (seg[0], out[-1][1], seg[2])
        else:
            out.append(seg)
    return out


def window(since_ts: float, until_ts: float | None) -> tuple[int, int]:
    """The whole minutes of a range; an open range runs past every stored period."""
    lo, hi = minutes(since_ts, until_ts)
    return lo, (hi if hi is not None else _END_OF_TIME)


def segments_sql(segments: list[Segment], params: dict[str, object]) -> str:
    """`in_segments` as SQL text (a window's rows of the rollup tables), its values bound
    into `params`; never true without segments."""
    terms = []
    for i, (res, a, b) in enumerate(segments):
        params[f"r{i}"], params[f"a{i}"], params[f"b{i}"] = res, a, b
        terms.append(f"(res = :r{i} AND period >= :a{i} AND period < :b{i})")
    return "(" + " OR ".join(terms) + ")" if terms else "(1 = 0)"


def in_sql(column: str, prefix: str, values: list[str], params: dict[str, object]) -> str:
    """`column IN (...)` as SQL text, the values bound into `params` as prefix0, prefix1..."""
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return f"{column} IN ({', '.join(names)})" if names else "(1 = 0)"


def read(conn: Connection, sql: str, params: dict[str, object]) -> list[tuple]:
    """The rows of a read in plain SQL with `:name` parameters, in the caller's transaction.
    On SQLite through the driver's own connection (the same one, so it sees what the
    transaction wrote): SQLAlchemy's handling of a statement was ~60% of a small aggregate
    read's time, and an alert evaluation makes dozens. Elsewhere as a `text()` statement,
    made once per distinct SQL."""
    if conn.dialect.name == "sqlite":
        return conn.connection.driver_connection.execute(sql, params).fetchall()
    return [tuple(row) for row in conn.execute(_text(sql), params)]


@functools.lru_cache(maxsize=512)
def _text(sql: str) -> TextClause:
    return text(sql)


def in_segments(t: Any, segments: list[Segment]) -> ColumnElement[bool]:
    if not segments:
        return false()
    return or_(*(and_(t.res == res, t.period >= a, t.period < b) for res, a, b in segments))


def retained(conn: Connection, lo: int, oldest: dict | None = None) -> int:
    """`lo`, or the start of its hour (day) when retention has dropped the minute (hour)
    rows there: a range reaching back past them reads whole coarser periods rather than
    silently missing its oldest edge. Rows were dropped where coarser rows reach further
    back than the finer ones (a store that just started has both begin together).
    `oldest`: a dict kept by a caller that reads several windows in one transaction (an
    alert evaluation), so the oldest periods are read once, not once a window."""
    for fine, coarse in ((MINUTE_S, HOUR_S), (HOUR_S, DAY_S)):
        if not lo % coarse:
            continue
        pair = None if oldest is None else oldest.get(fine)
        if pair is None:
            pair = tuple(read(conn, _OLDEST_SQL, {"res": res})[0][0] for res in (fine, coarse))
            if oldest is not None:
                oldest[fine] = pair
        oldest_fine, oldest_coarse = pair
        if oldest_coarse is None or oldest_fine is not None and lo >= oldest_fine:
            continue
        if oldest_fine is None or oldest_coarse < oldest_fine - oldest_fine % coarse:
            lo -= lo % coarse
    return lo


_OLDEST_SQL = f"SELECT min(period) FROM {rollup_table.name} WHERE res = :res"


def range_segments(conn: Connection, since_ts: float, until_ts: float | None,
                   oldest: dict | None = None) -> list[Segment]:
    """The segments of rollup rows covering the whole minutes of a range, at the coarsest
    resolution, reaching back over what retention dropped (`retained`; `oldest` its)."""
    lo, hi = window(since_ts, until_ts)
    return merge_segments(covering(retained(conn, lo, oldest), hi))


def in_range(conn: Connection, t: Any, since_ts: float, until_ts: float | None
             ) -> ColumnElement[bool]:
    """Rows of `t` covering the whole minutes of a range, at the coarsest resolution."""
    return in_segments(t, range_segments(conn, since_ts, until_ts))


def slot_sums() -> list[Any]:
    return [func.sum(_H[n]) for n in SLOTS]


def add_octave(hist: dict[int, int], octave: int, slots: Any) -> None:
    base = int(octave) * BUCKETS_PER_DOUBLING
    for i, n in enumerate(slots):
        if n:
            hist[base + i] = hist.get(base + i, 0) + int(n)


class Totals(BaseModel):
    model_config = ConfigDict(frozen=True)

    """Summed rollup counters and merged histograms over whole periods [lo, hi)."""

    lo: int
    hi: int
    counters: dict[str, float]
    histograms: dict[str, dict[int, int]]  # series -> bucket -> count


def _scope_filters(t: Any, route: str | None, deployments: tuple[str, ...] | None,
                   deployment_prefix: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if route is not None:
        where.append(t.route == route)
    if deployments is not None:
        where.append(t.deployment.in_(deployments))
    if deployment_prefix is not None:
        # a LIKE pattern would need '_' and '%' escaped: compare the prefix itself
        where.append(func.substr(t.deployment, 1, len(deployment_prefix)) == deployment_prefix)
    return where


def step_starts(since_ts: float, until_ts: float, step_s: int) -> list[int]:
    """Starts of the steps of a series: multiples of step_s (whole minutes) from the one
    holding since_ts, up to until_ts."""
    first = math.floor(since_ts / step_s) * step_s
    return list(range(first, math.ceil(until_ts / MINUTE_S) * MINUTE_S, step_s))


def scope_totals(
    conn: Connection,
    since_ts: float,
    until_ts: float,
    *,
    counters: tuple[str, ...],
    series: tuple[str, ...] = (),
    step_s: int | None = None,
    route: str | None = None,
    deployments: tuple[str, ...] | None = None,
    deployment_prefix: str | None = None,
) -> list[Totals]:
    """Counters and histograms of one scope over the whole minutes of [since_ts,
    until_ts): one Totals, or with `step_s` (a whole number of minutes) one per step of
    `step_starts` that has rows. Each window is read at the coarsest resolution tiling it."""
    if step_s is None:
        lo, hi = window(since_ts, until_ts)
        lo = retained(conn, lo)
        starts = [lo]
        windows = [(lo, hi)]
    else:
        starts = step_starts(since_ts, until_ts, step_s)
        hi = math.ceil(until_ts / MINUTE_S) * MINUTE_S
        windows = [(t, min(t + step_s, hi)) for t in starts]
    segments = merge_segments([seg for a, b in windows for seg in covering(a, b)])
    first, step = starts[0], step_s or (windows[0][1] - windows[0][0])

    def step_index(t: Any) -> Any:
        # rows are summed per step inside the database: every period read lies in one step
        return ((t.period - first) // step) if step_s else literal(0)

    sums: dict[int, list[float]] = {}
    if counters:
        where = _scope_filters(_U, route, deployments, deployment_prefix)
        cols = [func.coalesce(func.sum(_U[n]), 0) for n in counters]
        k = step_index(_U).label("k")
        q = select(k, *cols).where(in_segments(_U, segments), *where).group_by(k)
        for i, *values in conn.execute(q):
            sums[first + int(i) * step] = list(values)
    hists: dict[int, dict[str, dict[int, int]]] = {}
    if series:
        hwhere = _scope_filters(_H, route, deployments, deployment_prefix)
        k = step_index(_H).label("k")
        hq = (select(k, _H.series, _H.octave, *slot_sums())
              .where(_H.series.in_(series), in_segments(_H, segments), *hwhere)
              .group_by(k, _H.series, _H.octave))
        for i, name, octave, *slots in conn.execute(hq):
            by_series = hists.setdefault(first + int(i) * step, {})
            add_octave(by_series.setdefault(name, {}), octave, slots)
    ends = dict(windows)
    zero = [0] * len(counters)
    return [
        Totals(lo=k, hi=ends[k], counters=dict(zip(counters, sums.get(k, zero), strict=True)),
               histograms=hists.get(k, {}))
        for k in sorted(set(sums) | set(hists))
    ]
