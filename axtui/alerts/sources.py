"""Where a rule's value comes from: the store (the rollups, for every process) and, in the
process that routes, the engine's own state (breakers).

Store metrics are `axtui.store.metrics` (one name, one computation, as `axtui monitor` and
the console read them); alerts add spend_vs_budget (the config's budgets against the
store's spend), breaker_open and headroom_near_miss_rate. Values are read through one
connection per evaluation and identical reads are made once. None means no data: nothing
was measured in the window, which the evaluator shows as `nodata`, never as fine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, and_, func, or_, select

from axtui.alerts.rules import AlertRule
from axtui.records import NANO_PER_USD
from axtui.store import metrics, queries
from axtui.store.rollups import ATTEMPT
from axtui.store.tables import EventRow, rollup_error_table

_E = rollup_error_table.c
_V = EventRow.__table__.c
STORE_METRICS = frozenset(metrics.METRIC_NAMES)


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
        self._memo: dict[tuple[str, str, float, float], float | None] = {}
        self._spend: dict[tuple[str, float], dict[str | None, int]] = {}
        self._breakers: dict[str, bool] | None = None

    def value(self, rule: AlertRule, now: float) -> float | None:
        if rule.metric == "spend_vs_budget":
            return self._budget_pct(rule, now)
        if rule.metric == "breaker_open":
            return self._breakers_open(rule, now)
        key = (rule.metric, rule.scope, now - rule.window, now)
        if key not in self._memo:
            self._memo[key] = self._measure(rule, now - rule.window, now)
        return self._memo[key]

    def _measure(self, rule: AlertRule, since_ts: float, until_ts: float) -> float | None:
        scope = metrics.parse_scope(rule.scope)
        if scope.kind == "provider" and self.providers:
            scope = scope.with_deployments(
                tuple(d for d, p in self.providers.items() if p == scope.name))
        if rule.metric == "headroom_near_miss_rate":
            return self._near_misses(scope, since_ts, until_ts)
        value = metrics.metric_value(self.conn, rule.metric, scope, since_ts, until_ts)
        if rule.metric == "cost_per_hour" and value is not None:
            return value / NANO_PER_USD  # thresholds are written in USD per hour
        return value

    def _near_misses(self, scope: Any, since_ts: float, until_ts: float) -> float | None:
        """Attempts answered 429 although headroom predicted room, per attempt (every 429
        is such a miss: a deployment without predicted room is skipped, not tried)."""
        where: dict[str, Any] = {}
        if scope.kind == "route":
            where["route"] = scope.name
        elif scope.kind == "deployment":
            where["deployments"] = (scope.name,)
        elif scope.kind == "provider":
            if scope.deployments is not None:
                where["deployments"] = scope.deployments
            else:
                where["deployment_prefix"] = f"{scope.name}/"
        totals = queries.scope_totals(self.conn, since_ts, until_ts, counters=("attempts",),
                                      **where)
        attempts = int(totals[0].counters["attempts"]) if totals else 0
        if not attempts:
            return None
        lo, hi = queries._window(since_ts, until_ts)
        segments = queries.merge_segments(queries.covering(lo, hi))
        q = select(func.coalesce(func.sum(_E.n), 0)).where(
            _E.series == ATTEMPT, _E.kind == "rate_limited",
            or_(*(and_(_E.res == res, _E.period >= a, _E.period < b) for res, a, b in segments)),
            *queries._scope_filters(_E, where.get("route"), where.get("deployments"),
                                    where.get("deployment_prefix")))
        return int(self.conn.execute(q).scalar() or 0) / attempts

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
