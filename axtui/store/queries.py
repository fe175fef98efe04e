"""Reads for the CLI, the console, alerts and rollout gates.

Rollup-backed answers cover the whole minutes that overlap [since_ts, until_ts), read at
the coarsest resolution that tiles them: whole days inside the range from day rows, whole
hours beside them from hour rows, minutes only at the edges (`covering`); an edge older than
the minutes (hours) retention kept reads its whole hour (day). So a week reads a
few hundred rows per group, not ten thousand. Spend by user or key reads raw rows over the
same whole minutes, so every grouping adds up to the same total. The live tail pages by
`seq`, the insertion order: SQLite commits writers one at a time, so a reader that saw seq
N has seen every row below it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, func, select

from axtui.quantiles import histogram_percentile
from axtui.records import RequestRecord
from axtui.store.rollups import ATTEMPT, MINUTE_S, REQUEST
from axtui.store.tables import RequestRow, rollup_error_table, rollup_hist_table, rollup_table
from axtui.store.windows import (
    add_octave,
    in_range,
    in_segments,
    minutes,
    range_segments,
    read,
    segments_sql,
    slot_sums,
    window,
)

SpendGroup = Literal["route", "deployment", "user", "key"]
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


def _raw_range(since_ts: float, until_ts: float | None) -> list[ColumnElement[bool]]:
    lo, hi = minutes(since_ts, until_ts)
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
    lines, next_cursor = record_json_after(conn, cursor, route=route, limit=limit)
    return RecordPage(records=[RequestRecord.model_validate_json(r) for r in lines],
                      cursor=next_cursor)


def record_json_after(conn: Connection, cursor: int = 0, *, route: str | None = None,
                      limit: int = 1000) -> tuple[list[str], int]:
    """The stored JSON of records written after `cursor` (in write order) and the cursor to
    ask from next: for readers that need a few fields of many records, not the models."""
    # Bound the page by the newest row first, so a filtered page that finds nothing can
    # still move the cursor past the rows it looked at.
    newest = latest_cursor(conn)
    q = select(_R.seq, _R.record).where(_R.seq > cursor, _R.seq <= newest)
    if route is not None:
        q = q.where(_R.route == route)
    rows = conn.execute(q.order_by(_R.seq).limit(limit)).all()
    next_cursor = rows[-1].seq if len(rows) == limit else max(cursor, newest)
    return [r.record for r in rows], next_cursor


def _grouped_errors(
    conn: Connection, group: Any, series: str, since_ts: float, until_ts: float | None
) -> dict[str, dict[str, int]]:
    q = (
        select(group, _E.kind, func.sum(_E.n))
        .where(_E.series == series, in_range(conn, _E, since_ts, until_ts))
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
        select(group, _H.octave, *slot_sums())
        .where(_H.series == series, in_range(conn, _H, since_ts, until_ts))
        .group_by(group, _H.octave)
    )
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for name, octave, *slots in conn.execute(q):
        add_octave(out[name], octave, slots)
    return out


def _sums(conn: Connection, group: Any, names: list[str], since_ts, until_ts) -> list[Any]:
    cols = [func.coalesce(func.sum(_U[n]), 0).label(n) for n in names]
    q = select(group, *cols).where(in_range(conn, _U, since_ts, until_ts)).group_by(group)
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
    lo, hi = window(since_ts, until_ts)
    q = select(_U.period, *cols).where(in_segments(_U, [(MINUTE_S, lo, hi)]))
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
    conn: Connection, since_ts: float, until_ts: float | None = None,
    group_by: SpendGroup = "route", oldest: dict | None = None,
) -> dict[str | None, int]:
    """Nano-dollars per group. By deployment, failed attempts' costs count where they ran.
    `oldest`: windows.retained's, kept by a caller reading several windows at once."""
    if group_by in ("route", "deployment"):
        # plain SQL (windows.read): an alert evaluation reads spend for every budget rule
        group, total = (("route", "cost_nano") if group_by == "route"
                        else ("deployment", "attempt_cost_nano"))
        params: dict[str, object] = {}
        where = segments_sql(range_segments(conn, since_ts, until_ts, oldest), params)
        rows = [(name or None, int(n)) for name, n in read(
            conn, f"SELECT {group}, sum({total}) FROM {rollup_table.name} WHERE {where} "
                  f"GROUP BY {group}", params)]
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
