"""Reads for the CLI, the console, alerts and rollout gates.

Rollup-backed answers cover the whole minutes that overlap [since_ts, until_ts), read at
the coarsest resolution that tiles them: whole days inside the range from day rows, whole
hours beside them from hour rows, minutes only at the edges (`covering`). So a week reads a
few hundred rows per group, not ten thousand. Spend by user or key reads raw rows over the
same whole minutes, so every grouping adds up to the same total. The live tail pages by
`seq`, the insertion order: SQLite commits writers one at a time, so a reader that saw seq
N has seen every row below it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select

from axtui.quantiles import BUCKETS_PER_DOUBLING, histogram_percentile
from axtui.records import RequestRecord
from axtui.store.rollups import ATTEMPT, DAY_S, HOUR_S, MINUTE_S, REQUEST
from axtui.store.tables import (
    SLOTS,
    RequestRow,
    rollup_error_table,
    rollup_hist_table,
    rollup_table,
)

SpendGroup = Literal["route", "deployment", "user", "key"]
Segment = tuple[int, int, int]  # res, start, end: rows of that res with start <= period < end
_R = RequestRow.__table__.c
_U = rollup_table.c
_H = rollup_hist_table.c
_E = rollup_error_table.c


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class RecordPage(_Frozen):
    records: list[RequestRecord]
    cursor: int  # pass back to records_after for the next page


class DeploymentHealth(_Frozen):
    """Attempts at one deployment: what its breaker and the health view judge."""

    deployment: str
    attempts: int
    ok: int
    errors: int
    error_rate: float
    errors_by_kind: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    mean_latency_ms: float | None
    mean_ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_nano: int


class RouteStats(_Frozen):
    """Requests to one route: what the callers saw."""

    route: str
    requests: int
    ok: int
    errors: int
    success_rate: float
    errors_by_kind: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    mean_latency_ms: float | None
    mean_ttft_ms: float | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    cost_nano: int
    optimal_cost_nano: int


class MinutePoint(_Frozen):
    minute: int
    requests: int
    ok: int
    errors: int
    attempts: int
    attempt_errors: int
    cost_nano: int
    mean_latency_ms: float | None


def _minutes(since_ts: float, until_ts: float | None) -> tuple[int, int | None]:
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


def _window(since_ts: float, until_ts: float | None) -> tuple[int, int]:
    """The whole minutes of a range; an open range runs past every stored period."""
    lo, hi = _minutes(since_ts, until_ts)
    return lo, (hi if hi is not None else _END_OF_TIME)


_END_OF_TIME = 2**62 // DAY_S * DAY_S  # an open range's end: past every stored period


def _in_segments(t: Any, segments: list[Segment]) -> ColumnElement[bool]:
    if not segments:
        return false()
    return or_(*(and_(t.res == res, t.period >= a, t.period < b) for res, a, b in segments))


def _in_range(t: Any, since_ts: float, until_ts: float | None) -> ColumnElement[bool]:
    return _in_segments(t, covering(*_window(since_ts, until_ts)))


def _raw_range(since_ts: float, until_ts: float | None) -> list[ColumnElement[bool]]:
    lo, hi = _minutes(since_ts, until_ts)
    return [_R.started_at >= lo] if hi is None else [_R.started_at >= lo, _R.started_at < hi]


def _mean(total: float | None, n: int | None) -> float | None:
    return float(total) / n if n and total is not None else None


def _records(conn: Connection, q: Any) -> list[RequestRecord]:
    return [RequestRecord.model_validate_json(j) for j in conn.execute(q).scalars()]


def get_record(conn: Connection, record_id: str) -> RequestRecord | None:
    found = _records(conn, select(_R.record).where(_R.id == record_id))
    return found[0] if found else None


def recent_records(
    conn: Connection,
    *,
    since_ts: float | None = None,
    until_ts: float | None = None,
    route: str | None = None,
    deployment: str | None = None,
    user: str | None = None,
    outcome: str | None = None,
    limit: int = 100,
) -> list[RequestRecord]:
    """The newest records (by started_at) matching every filter given."""
    q = select(_R.record)
    for col, value in (
        (_R.route, route),
        (_R.deployment, deployment),
        (_R.user, user),
        (_R.outcome, outcome),
    ):
        if value is not None:
            q = q.where(col == value)
    if since_ts is not None:
        q = q.where(_R.started_at >= since_ts)
    if until_ts is not None:
        q = q.where(_R.started_at < until_ts)
    return _records(conn, q.order_by(_R.started_at.desc(), _R.seq.desc()).limit(limit))


def latest_cursor(conn: Connection) -> int:
    """The cursor of the newest row: a tail that starts now asks from here."""
    return int(conn.execute(select(func.max(_R.seq))).scalar() or 0)


def records_after(
    conn: Connection, cursor: int = 0, *, route: str | None = None, limit: int = 1000
) -> RecordPage:
    """Records written after `cursor`, in the order they were written."""
    # Bound the page by the newest row first, so a filtered page that finds nothing can
    # still move the cursor past the rows it looked at.
    newest = latest_cursor(conn)
    q = select(_R.seq, _R.record).where(_R.seq > cursor, _R.seq <= newest)
    if route is not None:
        q = q.where(_R.route == route)
    rows = conn.execute(q.order_by(_R.seq).limit(limit)).all()
    records = [RequestRecord.model_validate_json(r.record) for r in rows]
    next_cursor = rows[-1].seq if len(rows) == limit else max(cursor, newest)
    return RecordPage(records=records, cursor=next_cursor)


def _grouped_errors(
    conn: Connection, group: Any, series: str, since_ts: float, until_ts: float | None
) -> dict[str, dict[str, int]]:
    q = (
        select(group, _E.kind, func.sum(_E.n))
        .where(_E.series == series, _in_range(_E, since_ts, until_ts))
        .group_by(group, _E.kind)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for name, kind, n in conn.execute(q):
        out[name][kind] = int(n)
    return out


def _slot_sums() -> list[Any]:
    return [func.sum(_H[n]) for n in SLOTS]


def _add_octave(hist: dict[int, int], octave: int, slots: Any) -> None:
    base = int(octave) * BUCKETS_PER_DOUBLING
    for i, n in enumerate(slots):
        if n:
            hist[base + i] = hist.get(base + i, 0) + int(n)


def _grouped_histograms(
    conn: Connection, group: Any, series: str, since_ts: float, until_ts: float | None
) -> dict[str, dict[int, int]]:
    q = (
        select(group, _H.octave, *_slot_sums())
        .where(_H.series == series, _in_range(_H, since_ts, until_ts))
        .group_by(group, _H.octave)
    )
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for name, octave, *slots in conn.execute(q):
        _add_octave(out[name], octave, slots)
    return out


def _sums(conn: Connection, group: Any, names: list[str], since_ts, until_ts) -> list[Any]:
    cols = [func.coalesce(func.sum(_U[n]), 0).label(n) for n in names]
    q = select(group, *cols).where(_in_range(_U, since_ts, until_ts)).group_by(group)
    return list(conn.execute(q))


def deployment_health(
    conn: Connection, since_ts: float, until_ts: float | None = None
) -> dict[str, DeploymentHealth]:
    """Per deployment, counting attempts (including failed-over ones)."""
    names = [
        "attempts",
        "attempts_ok",
        "attempt_errors",
        "attempt_latency_ms_sum",
        "attempt_ttft_n",
        "attempt_ttft_ms_sum",
        "attempt_prompt_tokens",
        "attempt_completion_tokens",
        "attempt_cost_nano",
    ]
    errors = _grouped_errors(conn, _E.deployment, ATTEMPT, since_ts, until_ts)
    hists = _grouped_histograms(conn, _H.deployment, ATTEMPT, since_ts, until_ts)
    out: dict[str, DeploymentHealth] = {}
    for row in _sums(conn, _U.deployment, names, since_ts, until_ts):
        attempts = int(row.attempts)
        if not attempts:
            continue  # "" (served by nobody) and deployments idle in the range
        hist = hists.get(row.deployment, {})
        out[row.deployment] = DeploymentHealth(
            deployment=row.deployment,
            attempts=attempts,
            ok=int(row.attempts_ok),
            errors=int(row.attempt_errors),
            error_rate=int(row.attempt_errors) / attempts,
            errors_by_kind=errors.get(row.deployment, {}),
            p50_ms=histogram_percentile(hist, 0.50),
            p95_ms=histogram_percentile(hist, 0.95),
            mean_latency_ms=_mean(row.attempt_latency_ms_sum, attempts),
            mean_ttft_ms=_mean(row.attempt_ttft_ms_sum, int(row.attempt_ttft_n)),
            prompt_tokens=int(row.attempt_prompt_tokens),
            completion_tokens=int(row.attempt_completion_tokens),
            cost_nano=int(row.attempt_cost_nano),
        )
    return out


def route_stats(
    conn: Connection, since_ts: float, until_ts: float | None = None
) -> dict[str, RouteStats]:
    """Per route, counting requests; latency is over requests that reached a provider."""
    names = [
        "requests",
        "ok",
        "errors",
        "latency_n",
        "latency_ms_sum",
        "ttft_n",
        "ttft_ms_sum",
        "attempts",
        "prompt_tokens",
        "completion_tokens",
        "cost_nano",
        "optimal_cost_nano",
    ]
    errors = _grouped_errors(conn, _E.route, REQUEST, since_ts, until_ts)
    hists = _grouped_histograms(conn, _H.route, REQUEST, since_ts, until_ts)
    out: dict[str, RouteStats] = {}
    for row in _sums(conn, _U.route, names, since_ts, until_ts):
        requests = int(row.requests)
        if not requests:
            continue
        hist = hists.get(row.route, {})
        out[row.route] = RouteStats(
            route=row.route,
            requests=requests,
            ok=int(row.ok),
            errors=int(row.errors),
            success_rate=int(row.ok) / requests,
            errors_by_kind=errors.get(row.route, {}),
            p50_ms=histogram_percentile(hist, 0.50),
            p95_ms=histogram_percentile(hist, 0.95),
            mean_latency_ms=_mean(row.latency_ms_sum, int(row.latency_n)),
            mean_ttft_ms=_mean(row.ttft_ms_sum, int(row.ttft_n)),
            attempts=int(row.attempts),
            prompt_tokens=int(row.prompt_tokens),
            completion_tokens=int(row.completion_tokens),
            cost_nano=int(row.cost_nano),
            optimal_cost_nano=int(row.optimal_cost_nano),
        )
    return out


def minute_series(
    conn: Connection,
    since_ts: float,
    until_ts: float | None = None,
    *,
    route: str | None = None,
    deployment: str | None = None,
) -> list[MinutePoint]:
    """One point per minute that saw traffic, oldest first, for charts.

    Filtered by deployment, request counts are those it served and attempt counts those
    it was tried for.
    """
    names = [
        "requests",
        "ok",
        "errors",
        "attempts",
        "attempt_errors",
        "cost_nano",
        "latency_n",
        "latency_ms_sum",
    ]
    cols = [func.coalesce(func.sum(_U[n]), 0).label(n) for n in names]
    lo, hi = _window(since_ts, until_ts)
    q = select(_U.period, *cols).where(_in_segments(_U, [(MINUTE_S, lo, hi)]))
    if route is not None:
        q = q.where(_U.route == route)
    if deployment is not None:
        q = q.where(_U.deployment == deployment)
    q = q.group_by(_U.period).order_by(_U.period)
    return [
        MinutePoint(
            minute=int(r.period),
            requests=int(r.requests),
            ok=int(r.ok),
            errors=int(r.errors),
            attempts=int(r.attempts),
            attempt_errors=int(r.attempt_errors),
            cost_nano=int(r.cost_nano),
            mean_latency_ms=_mean(r.latency_ms_sum, int(r.latency_n)),
        )
        for r in conn.execute(q)
    ]


def spend(
    conn: Connection, since_ts: float, until_ts: float | None = None, group_by: SpendGroup = "route"
) -> dict[str | None, int]:
    """Nano-dollars per group. By deployment, failed attempts' costs count where they ran."""
    if group_by in ("route", "deployment"):
        group = _U.route if group_by == "route" else _U.deployment
        total = _U.cost_nano if group_by == "route" else _U.attempt_cost_nano
        q = (
            select(group, func.sum(total))
            .where(_in_range(_U, since_ts, until_ts))
            .group_by(group)
        )
        rows = [(name or None, int(n)) for name, n in conn.execute(q)]
    elif group_by in ("user", "key"):
        group = _R.user if group_by == "user" else _R.key_id
        q = (
            select(group, func.sum(_R.cost_nano))
            .where(*_raw_range(since_ts, until_ts))
            .group_by(group)
        )
        rows = [(name, int(n)) for name, n in conn.execute(q)]
    else:
        raise ValueError(
            f"spend: group_by must be route, deployment, user or key, not {group_by!r}"
        )
    out: dict[str | None, int] = {}
    for name, n in rows:
        if n:
            out[name] = out.get(name, 0) + n
    return out


class Totals(_Frozen):
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
        lo, hi = _window(since_ts, until_ts)
        starts = [lo]
        windows = [(lo, hi)]
    else:
        starts = step_starts(since_ts, until_ts, step_s)
        hi = math.ceil(until_ts / MINUTE_S) * MINUTE_S
        windows = [(t, min(t + step_s, hi)) for t in starts]
    segments = merge_segments([seg for a, b in windows for seg in covering(a, b)])

    def step_of(period: int) -> int:
        return starts[bisect_right(starts, period) - 1]

    where = _scope_filters(_U, route, deployments, deployment_prefix)
    cols = [func.coalesce(func.sum(_U[n]), 0) for n in counters]
    q = (select(_U.period, *cols).where(_in_segments(_U, segments), *where)
         .group_by(_U.res, _U.period))
    sums: dict[int, list[float]] = {}
    for period, *values in conn.execute(q):
        acc = sums.setdefault(step_of(int(period)), [0] * len(counters))
        for i, v in enumerate(values):
            acc[i] += v
    hists: dict[int, dict[str, dict[int, int]]] = {}
    if series:
        hwhere = _scope_filters(_H, route, deployments, deployment_prefix)
        hq = (select(_H.period, _H.series, _H.octave, *_slot_sums())
              .where(_H.series.in_(series), _in_segments(_H, segments), *hwhere)
              .group_by(_H.res, _H.series, _H.period, _H.octave))
        for period, name, octave, *slots in conn.execute(hq):
            by_series = hists.setdefault(step_of(int(period)), {})
            _add_octave(by_series.setdefault(name, {}), octave, slots)
    ends = dict(windows)
    zero = [0] * len(counters)
    return [
        Totals(lo=k, hi=ends[k], counters=dict(zip(counters, sums.get(k, zero), strict=True)),
               histograms=hists.get(k, {}))
        for k in sorted(set(sums) | set(hists))
    ]
