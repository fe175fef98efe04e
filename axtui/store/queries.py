"""Reads for the CLI, the console, alerts and rollout gates.

Rollup-backed answers cover the whole minutes that overlap [since_ts, until_ts). Spend by
user or key reads raw rows over the same whole minutes, so every grouping adds up to the
same total. The live tail pages by `seq`, the insertion order: SQLite commits writers one
at a time, so a reader that saw seq N has seen every row below it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, func, select

from axtui.records import RequestRecord
from axtui.store.rollups import ATTEMPT, MINUTE_S, REQUEST, percentile
from axtui.store.tables import RequestRow, RollupErrorRow, RollupHistogramRow, RollupRow

SpendGroup = Literal["route", "deployment", "user", "key"]
_R = RequestRow.__table__.c
_U = RollupRow.__table__.c
_H = RollupHistogramRow.__table__.c
_E = RollupErrorRow.__table__.c


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


def _in_range(col: Any, since_ts: float, until_ts: float | None) -> list[ColumnElement[bool]]:
    lo, hi = _minutes(since_ts, until_ts)
    return [col >= lo] if hi is None else [col >= lo, col < hi]


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
        .where(_E.series == series, *_in_range(_E.minute, since_ts, until_ts))
        .group_by(group, _E.kind)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for name, kind, n in conn.execute(q):
        out[name][kind] = int(n)
    return out


def _grouped_histograms(
    conn: Connection, group: Any, series: str, since_ts: float, until_ts: float | None
) -> dict[str, dict[int, int]]:
    q = (
        select(group, _H.bucket, func.sum(_H.n))
        .where(_H.series == series, *_in_range(_H.minute, since_ts, until_ts))
        .group_by(group, _H.bucket)
    )
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for name, bucket, n in conn.execute(q):
        out[name][int(bucket)] = int(n)
    return out


def _sums(conn: Connection, group: Any, names: list[str], since_ts, until_ts) -> list[Any]:
    cols = [func.coalesce(func.sum(_U[n]), 0).label(n) for n in names]
    q = select(group, *cols).where(*_in_range(_U.minute, since_ts, until_ts)).group_by(group)
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
            p50_ms=percentile(hist, 0.50),
            p95_ms=percentile(hist, 0.95),
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
            p50_ms=percentile(hist, 0.50),
            p95_ms=percentile(hist, 0.95),
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
    q = select(_U.minute, *cols).where(*_in_range(_U.minute, since_ts, until_ts))
    if route is not None:
        q = q.where(_U.route == route)
    if deployment is not None:
        q = q.where(_U.deployment == deployment)
    q = q.group_by(_U.minute).order_by(_U.minute)
    return [
        MinutePoint(
            minute=int(r.minute),
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
            .where(*_in_range(_U.minute, since_ts, until_ts))
            .group_by(group)
        )
        rows = [(name or None, int(n)) for name, n in conn.execute(q)]
    elif group_by in ("user", "key"):
        group = _R.user if group_by == "user" else _R.key_id
        q = (
            select(group, func.sum(_R.cost_nano))
            .where(*_in_range(_R.started_at, since_ts, until_ts))
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


def _scope_filters(table: Any, route: str | None, deployments: tuple[str, ...] | None,
                   deployment_prefix: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if route is not None:
        where.append(table.route == route)
    if deployments is not None:
        where.append(table.deployment.in_(deployments))
    if deployment_prefix is not None:
        # a LIKE pattern would need escaping of '_' and '%': compare the prefix instead
        where.append(func.substr(table.deployment, 1, len(deployment_prefix))
                     == deployment_prefix)
    return where


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
    """Counters and histograms of one scope over [since_ts, until_ts): one Totals, or with
    `step_s`, one per step from the window's first whole period (steps with no rows are
    left out)."""
    lo, hi = _minutes(since_ts, until_ts)
    assert hi is not None
    step = step_s or (hi - lo) or MINUTE_S
    where = _scope_filters(_U, route, deployments, deployment_prefix)
    cols = [func.coalesce(func.sum(_U[n]), 0).label(n) for n in counters]
    q = (select(_U.minute, *cols).where(_U.minute >= lo, _U.minute < hi, *where)
         .group_by(_U.minute))
    sums: dict[int, list[float]] = {}
    for row in conn.execute(q):
        k = lo + (int(row.minute) - lo) // step * step
        acc = sums.setdefault(k, [0] * len(counters))
        for i, v in enumerate(row[1:]):
            acc[i] += v
    hists: dict[int, dict[str, dict[int, int]]] = {}
    if series:
        hwhere = _scope_filters(_H, route, deployments, deployment_prefix)
        hq = (select(_H.minute, _H.series, _H.bucket, func.sum(_H.n))
              .where(_H.minute >= lo, _H.minute < hi, _H.series.in_(series), *hwhere)
              .group_by(_H.minute, _H.series, _H.bucket))
        for minute, name, bucket, n in conn.execute(hq):
            k = lo + (int(minute) - lo) // step * step
            h = hists.setdefault(k, {}).setdefault(name, {})
            h[int(bucket)] = h.get(int(bucket), 0) + int(n)
    return [
        Totals(lo=k, hi=min(hi, k + step), counters=dict(zip(counters, sums.get(k, [0] * len(counters)), strict=True)),
               histograms=hists.get(k, {}))
        for k in sorted(set(sums) | set(hists))
    ]
