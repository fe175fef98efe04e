"""Named metrics over the rollups: the vocabulary alerts, `axtui monitor metrics` and the
console share, so one name means one computation everywhere.

A metric is read over a window [since_ts, until_ts) and a scope:
- `global` and `route:NAME` count requests, as callers saw them;
- `deployment:NAME` and `provider:NAME` count attempts, as the deployment saw them (a
  failed-over attempt counts against the deployment that failed it). A provider is every
  deployment whose name starts with `NAME/`, or the deployments the caller names from the
  config (`Scope.with_deployments`).

`None` means no data (no rollup rows, or nothing to divide by), never a silent 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection

from axtui.quantiles import histogram_percentile
from axtui.store import windows
from axtui.store.rollups import ATTEMPT, ATTEMPT_TTFT, REQUEST, REQUEST_TTFT

ScopeKind = Literal["global", "route", "deployment", "provider"]
SCOPE_KINDS: tuple[ScopeKind, ...] = ("global", "route", "deployment", "provider")
_SCOPE_FORMS = "global, route:NAME, deployment:NAME or provider:NAME"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # ratio (0..1), ms, per_s, nano_usd_per_h
    description: str


_METRICS = (
    Metric("error_rate", "ratio",
           "requests not ok / requests (route, global); failed attempts / attempts "
           "(deployment, provider)"),
    Metric("success_rate", "ratio", "ok requests / requests; ok attempts / attempts"),
    Metric("p50", "ms", "median latency: requests that reached a provider; attempts"),
    Metric("p95", "ms", "95th percentile latency"),
    Metric("p99", "ms", "99th percentile latency"),
    Metric("ttft_p95", "ms", "95th percentile time to first token (streamed)"),
    Metric("request_rate", "per_s", "requests per second; attempts per second"),
    Metric("cost_per_hour", "nano_usd_per_h",
           "spend per hour in nano-USD (exact int): requests' cost; attempts' cost"),
    Metric("failover_rate", "ratio",
           "requests that took more than one attempt / requests; attempts the engine "
           "moved on from (failed over away from this deployment) / attempts"),
    Metric("rejected_rate", "ratio",
           "requests refused before any attempt / requests (route and global only)"),
)
METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    name: str | None = None
    # provider scope: that provider's deployments, from the config; None: by name prefix
    deployments: tuple[str, ...] | None = None

    @property
    def attempt_level(self) -> bool:
        """Counts attempts (deployment, provider) rather than requests (route, global)."""
        return self.kind in ("deployment", "provider")

    def with_deployments(self, deployments: tuple[str, ...] | list[str]) -> Scope:
        """A provider scope resolved from the config rather than by name prefix."""
        if self.kind != "provider":
            raise ValueError(f"only a provider scope lists deployments, not {self}")
        return Scope(self.kind, self.name, tuple(deployments))

    def __str__(self) -> str:
        return self.kind if self.name is None else f"{self.kind}:{self.name}"


GLOBAL = Scope("global")


def parse_metric(name: str) -> Metric:
    """The metric called `name`; ValueError naming it and the valid names otherwise."""
    metric = METRICS.get(name.strip()) if isinstance(name, str) else None
    if metric is None:
        raise ValueError(f"unknown metric {name!r}: expected one of {', '.join(METRIC_NAMES)}")
    return metric


def parse_scope(text: str) -> Scope:
    """`global`, `route:NAME`, `deployment:NAME` or `provider:NAME`; ValueError otherwise."""
    text = text.strip() if isinstance(text, str) else ""
    if text == "global":
        return GLOBAL
    kind, sep, name = text.partition(":")
    if not sep or kind not in SCOPE_KINDS or kind == "global" or not name.strip():
        raise ValueError(f"bad scope {text!r}: expected {_SCOPE_FORMS}")
    return Scope(kind, name.strip())  # type: ignore[arg-type]


def check(metric: Metric, scope: Scope) -> None:
    """ValueError when the metric means nothing at that scope."""
    if metric.name == "rejected_rate" and scope.attempt_level:
        raise ValueError(f"rejected_rate has no {scope.kind} scope: a rejected request "
                         "reaches no deployment (use global or route:NAME)")


# What each level calls the counters and histograms a metric reads.
_REQUEST_LEVEL = {"total": "requests", "ok": "ok", "errors": "errors", "rejected": "rejected",
                  "failovers": "failovers", "cost": "cost_nano", "latency": REQUEST,
                  "ttft": REQUEST_TTFT}
_ATTEMPT_LEVEL = {"total": "attempts", "ok": "attempts_ok", "errors": "attempt_errors",
                  "failovers": "attempt_failovers", "cost": "attempt_cost_nano",
                  "latency": ATTEMPT, "ttft": ATTEMPT_TTFT}
_RATIOS = {"error_rate": "errors", "success_rate": "ok", "failover_rate": "failovers",
           "rejected_rate": "rejected"}
_QUANTILES = {"p50": ("latency", 0.50), "p95": ("latency", 0.95), "p99": ("latency", 0.99),
              "ttft_p95": ("ttft", 0.95)}


def _needs(metric: Metric, level: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(counters, histogram series) the metric reads at this level."""
    if metric.name in _QUANTILES:
        return (), (level[_QUANTILES[metric.name][0]],)
    if metric.name in _RATIOS:
        return (level["total"], level[_RATIOS[metric.name]]), ()
    if metric.name == "cost_per_hour":
        return (level["cost"],), ()
    return (level["total"],), ()


def _value(metric: Metric, level: dict[str, str], t: windows.Totals, until_ts: float
           ) -> float | None:
    c = t.counters
    name = metric.name
    if name in _QUANTILES:
        series, q = _QUANTILES[name]
        return histogram_percentile(t.histograms.get(level[series], {}), q)
    if name in _RATIOS:
        total = int(c[level["total"]])
        return int(c[level[_RATIOS[name]]]) / total if total else None
    # rates: over the time the periods cover, up to the window's end (not into the future)
    span_ms = round((min(t.hi, until_ts) - t.lo) * 1000)
    if span_ms <= 0:
        return None
    if name == "cost_per_hour":
        cost = int(c[level["cost"]])
        return (2 * cost * 3_600_000 + span_ms) // (2 * span_ms)  # rounded, exact int
    return int(c[level["total"]]) * 1000 / span_ms


def _window(since_ts: float, until_ts: float) -> None:
    if not (math.isfinite(since_ts) and math.isfinite(until_ts)) or until_ts <= since_ts:
        raise ValueError(f"bad window: until ({until_ts}) must be after since ({since_ts})")


def _read(conn: Connection, metric: Metric, scope: Scope, since_ts: float, until_ts: float,
          step_s: int | None) -> tuple[dict[str, str], list[windows.Totals]]:
    check(metric, scope)
    level = _ATTEMPT_LEVEL if scope.attempt_level else _REQUEST_LEVEL
    counters, series = _needs(metric, level)
    where: dict = {}
    if scope.kind == "route":
        where["route"] = scope.name
    elif scope.kind == "deployment":
        where["deployments"] = (scope.name,)
    elif scope.kind == "provider":
        if scope.deployments is not None:
            where["deployments"] = scope.deployments
        else:
            where["deployment_prefix"] = f"{scope.name}/"
    totals = windows.scope_totals(conn, since_ts, until_ts, counters=counters, series=series,
                                  step_s=step_s, **where)
    return level, totals


def _coerce(metric: Metric | str, scope: Scope | str) -> tuple[Metric, Scope]:
    m = metric if isinstance(metric, Metric) else parse_metric(metric)
    s = scope if isinstance(scope, Scope) else parse_scope(scope)
    return m, s


def metric_value(conn: Connection, metric: Metric | str, scope: Scope | str, since_ts: float,
                 until_ts: float) -> float | None:
    """The metric over [since_ts, until_ts) at `scope`; None when there is no data."""
    metric, scope = _coerce(metric, scope)
    _window(since_ts, until_ts)
    level, totals = _read(conn, metric, scope, since_ts, until_ts, None)
    if not totals:
        return None
    return _value(metric, level, totals[0], until_ts)


def metric_series(conn: Connection, metric: Metric | str, scope: Scope | str, since_ts: float,
                  until_ts: float, step_s: float) -> list[tuple[float, float | None]]:
    """(start of step, value) for every step of `step_s` seconds (a whole number of
    minutes), steps aligned to multiples of step_s, from the one holding since_ts up to
    until_ts; None where a step has no data."""
    metric, scope = _coerce(metric, scope)
    _window(since_ts, until_ts)
    step = int(step_s)
    if step != step_s or step < 60 or step % 60:
        raise ValueError(f"bad step {step_s!r}: a whole number of minutes (60, 300, 3600 ...)")
    level, totals = _read(conn, metric, scope, since_ts, until_ts, step)
    by_start = {t.lo: t for t in totals}
    return [
        (float(t0), None if t0 not in by_start else _value(metric, level, by_start[t0], until_ts))
        for t0 in windows.step_starts(since_ts, until_ts, step)
    ]
