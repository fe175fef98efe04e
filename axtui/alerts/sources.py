"""Where a rule's value comes from: the store (rollups and raw rows, for every process) and,
in the process that routes, the engine's own state (breakers).

`StoreMetrics` reads inside one connection for one evaluation and fetches each window once
for every scope (a few grouped queries per distinct window, not one per rule), so 100 rules
cost about as much as their distinct windows. A value of None means no data: nothing was
measured in the window, which the evaluator shows as `nodata`, never as fine.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, and_, case, func, select

from axtui.alerts.rules import AlertRule
from axtui.records import NANO_PER_USD
from axtui.store import queries
from axtui.store.rollups import ATTEMPT, MINUTE_S, REQUEST, percentile
from axtui.store.tables import EventRow, RequestRow, RollupErrorRow, RollupHistogramRow, RollupRow

_U = RollupRow.__table__.c
_H = RollupHistogramRow.__table__.c
_E = RollupErrorRow.__table__.c
_R = RequestRow.__table__.c
_V = EventRow.__table__.c
_SUMS = ("requests", "ok", "errors", "attempts", "attempts_ok", "attempt_errors", "cost_nano",
         "attempt_cost_nano")


class EngineState(Protocol):
    """What only the routing process knows; the host passes one built on its engine."""

    def breaker_open(self, deployment: str) -> bool | None:
        """Whether the deployment's breaker is open now (None: no such deployment)."""


class EngineStateSource:
    """EngineState over an `axtui.engine.engine.Engine` (read-only: never ticks a breaker,
    since the evaluator may run in a thread beside the engine's loop)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def breaker_open(self, deployment: str) -> bool | None:
        st = self.engine.deployments.get(deployment)
        if st is None:
            return None
        b = st.breaker
        # `state` would tick the breaker (a transition, events) from this thread: read raw.
        return str(b._state) == "open" and b.clock.monotonic() < b._open_until


class _Window:
    """One window's grouped sums, histograms, rate-limit misses and raw-row counts."""

    def __init__(self, conn: Connection, since_ts: float, until_ts: float) -> None:
        self.conn, self.since_ts, self.until_ts = conn, since_ts, until_ts
        lo = math.floor(since_ts / MINUTE_S) * MINUTE_S
        self.span_s = max(1.0, until_ts - lo)  # rollups hold whole minutes from `lo`
        self._range = [_U.minute >= lo, _U.minute < math.ceil(until_ts / MINUTE_S) * MINUTE_S]
        self._lo, self._hi = lo, math.ceil(until_ts / MINUTE_S) * MINUTE_S
        self._sums: dict[tuple[str, str], dict[str, int]] | None = None
        self._hists: dict[str, dict[tuple[str, str], dict[int, int]]] = {}
        self._misses: dict[tuple[str, str], int] | None = None
        self._raw: dict[str, tuple[int, int, int]] | None = None
        self._ttft: list[tuple[str, str, float]] | None = None

    def sums(self) -> dict[tuple[str, str], dict[str, int]]:
        if self._sums is None:
            cols = [func.coalesce(func.sum(_U[n]), 0).label(n) for n in _SUMS]
            q = select(_U.route, _U.deployment, *cols).where(*self._range).group_by(
                _U.route, _U.deployment)
            self._sums = {(r.route, r.deployment): {n: int(getattr(r, n)) for n in _SUMS}
                          for r in self.conn.execute(q)}
        return self._sums

    def histograms(self, series: str) -> dict[tuple[str, str], dict[int, int]]:
        if series not in self._hists:
            q = (select(_H.route, _H.deployment, _H.bucket, func.sum(_H.n))
                 .where(_H.series == series, _H.minute >= self._lo, _H.minute < self._hi)
                 .group_by(_H.route, _H.deployment, _H.bucket))
            out: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
            for route, dep, bucket, n in self.conn.execute(q):
                out[(route, dep)][int(bucket)] = int(n)
            self._hists[series] = out
        return self._hists[series]

    def misses(self) -> dict[tuple[str, str], int]:
        """Attempts answered 429 although headroom predicted room (every 429 is such a
        miss: a deployment without predicted room is skipped, not tried)."""
        if self._misses is None:
            q = (select(_E.route, _E.deployment, func.sum(_E.n))
                 .where(_E.series == ATTEMPT, _E.kind == "rate_limited",
                        _E.minute >= self._lo, _E.minute < self._hi)
                 .group_by(_E.route, _E.deployment))
            self._misses = {(r, d): int(n) for r, d, n in self.conn.execute(q)}
        return self._misses

    def raw(self) -> dict[str, tuple[int, int, int]]:
        """Per route: (requests, requests with more than one attempt, rejected)."""
        if self._raw is None:
            q = (select(_R.route, func.count(),
                        func.sum(case((_R.attempts_n > 1, 1), else_=0)),
                        func.sum(case((_R.outcome == "rejected", 1), else_=0)))
                 .where(_R.started_at >= self.since_ts, _R.started_at < self.until_ts)
                 .group_by(_R.route))
            self._raw = {r: (int(n), int(f or 0), int(x or 0))
                         for r, n, f, x in self.conn.execute(q)}
        return self._raw

    def ttft(self) -> list[tuple[str, str, float]]:
        if self._ttft is None:
            q = select(_R.route, _R.deployment, _R.ttft_ms).where(
                _R.started_at >= self.since_ts, _R.started_at < self.until_ts,
                _R.ttft_ms.is_not(None))
            self._ttft = [(r, d or "", float(t)) for r, d, t in self.conn.execute(q)]
        return self._ttft


class StoreMetrics:
    """Rule values for one evaluation, read through one connection (see the module doc).

    `providers` maps each deployment to its provider (from the config; without one, the
    part of the deployment's name before the first "/")."""

    def __init__(self, conn: Connection, *, providers: Mapping[str, str] | None = None,
                 budgets: list[Any] | None = None, engine: EngineState | None = None) -> None:
        self.conn = conn
        self.providers = dict(providers or {})
        self.budgets = list(budgets or [])
        self.engine = engine
        self._windows: dict[tuple[float, float], _Window] = {}
        self._spend: dict[tuple[str, float], dict[str | None, int]] = {}
        self._breakers: dict[str, bool] | None = None

    def value(self, rule: AlertRule, now: float) -> float | None:
        if rule.metric == "spend_vs_budget":
            return self._budget_pct(rule, now)
        if rule.metric == "breaker_open":
            return self._breakers_open(rule, now)
        key = (now - rule.window, now)
        w = self._windows.get(key)
        if w is None:
            w = self._windows[key] = _Window(self.conn, *key)
        return _measure(w, rule, self._provider_of)

    def _provider_of(self, deployment: str) -> str:
        return self.providers.get(deployment) or deployment.partition("/")[0]

    def _deployments_in(self, rule: AlertRule, now: float) -> list[str]:
        names = set(self.providers) | set(self._stored_breakers(now))
        if rule.scope_kind == "deployment":
            return [rule.scope_name]
        if rule.scope_kind == "provider":
            return [d for d in names if self._provider_of(d) == rule.scope_name]
        return sorted(names)

    def _breakers_open(self, rule: AlertRule, now: float) -> float | None:
        opened = 0
        for d in self._deployments_in(rule, now):
            is_open = self.engine.breaker_open(d) if self.engine is not None else None
            if is_open is None:  # no engine here: the store's breaker events say
                is_open = self._stored_breakers(now).get(d, False)
            opened += bool(is_open)
        return float(opened)

    def _stored_breakers(self, now: float) -> dict[str, bool]:
        """Per deployment, whether its latest breaker event opened it (and it is not over)."""
        if self._breakers is None:
            latest = (select(func.max(_V.id)).where(_V.kind == "breaker")
                      .group_by(_V.subject).scalar_subquery())
            rows = self.conn.execute(select(_V.subject, _V.detail, _V.ts).where(
                and_(_V.kind == "breaker", _V.id.in_(latest))))
            self._breakers = {}
            for subject, detail, _ts in rows:
                d = orjson.loads(detail)
                until = d.get("until")
                self._breakers[subject] = d.get("to") == "open" and (
                    until is None or until > now)
        return self._breakers

    def _budget_pct(self, rule: AlertRule, now: float) -> float | None:
        from axtui.engine.budget import period_bounds

        best: float | None = None
        for b in self.budgets:
            if b.scope != rule.scope or rule.labels.get("period", b.period) != b.period:
                continue
            start, _ = period_bounds(now, b.period)
            kind, _, target = b.scope.partition(":")
            group = {"global": "route", "route": "route", "user": "user", "key": "key"}[kind]
            spent_by = self._spend.get((group, start))
            if spent_by is None:
                spent_by = self._spend[(group, start)] = queries.spend(
                    self.conn, start, now, group)
            if kind == "global":
                spent = sum(spent_by.values())
            elif target == "*":
                spent = max((v for k, v in spent_by.items() if k is not None), default=0)
            else:
                spent = spent_by.get(target, 0)
            limit = int(b.limit_usd * NANO_PER_USD)
            pct = spent * 100 / limit if limit else 0.0
            best = pct if best is None else max(best, pct)
        return best


def _measure(w: _Window, rule: AlertRule, provider_of) -> float | None:
    kind, name, metric = rule.scope_kind, rule.scope_name, rule.metric
    per_attempt = kind in ("deployment", "provider")

    def keep(route: str, dep: str) -> bool:
        if kind == "route":
            return route == name
        if kind == "deployment":
            return dep == name
        if kind == "provider":
            return bool(dep) and provider_of(dep) == name
        return True

    if metric in ("failover_rate", "rejected_rate"):
        rows = [v for r, v in w.raw().items() if kind == "global" or r == name]
        n = sum(v[0] for v in rows)
        part = sum(v[1] if metric == "failover_rate" else v[2] for v in rows)
        return part / n if n else None
    if metric in ("p50", "p95", "p99"):
        hist: dict[int, int] = defaultdict(int)
        for (route, dep), h in w.histograms(ATTEMPT if per_attempt else REQUEST).items():
            if keep(route, dep):
                for b, n in h.items():
                    hist[b] += n
        return percentile(hist, {"p50": 0.50, "p95": 0.95, "p99": 0.99}[metric])
    if metric == "ttft_p95":
        values = sorted(t for r, d, t in w.ttft() if keep(r, d))
        if not values:
            return None
        return values[min(len(values) - 1, max(0, math.ceil(0.95 * len(values)) - 1))]
    total: dict[str, int] = defaultdict(int)
    for (route, dep), sums in w.sums().items():
        if keep(route, dep):
            for k, v in sums.items():
                total[k] += v
    n, ok, bad = ((total["attempts"], total["attempts_ok"], total["attempt_errors"])
                  if per_attempt else (total["requests"], total["ok"], total["errors"]))
    if metric == "request_rate":
        return n / w.span_s
    if metric == "cost_per_hour":
        cost = total["attempt_cost_nano" if per_attempt else "cost_nano"]
        return cost / NANO_PER_USD * 3600 / w.span_s
    if metric == "headroom_near_miss_rate":
        misses = sum(v for (r, d), v in w.misses().items() if keep(r, d))
        return misses / total["attempts"] if total["attempts"] else None
    if not n:
        return None
    return bad / n if metric == "error_rate" else ok / n
