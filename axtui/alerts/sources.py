"""Where a rule's value comes from: the store (the rollups, for every process) and, in the
process that routes, the engine's own state (breakers).

Store metrics are `axtui.store.metrics` (one name, one computation, as `axtui monitor` and
the console read them); alerts add spend_vs_budget (the config's budgets against the
store's spend), breaker_open, headroom_near_miss_rate and free_tier_share (the costs view's
share of answers on free-tier deployments, costs/free_tier.py). Values are read through one
connection per evaluation and identical reads are made once. None means no data: nothing
was measured in the window, which the evaluator shows as `nodata`, never as fine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection

from axtui.alerts.rules import SLO_METRICS, AlertRule
from axtui.records import NANO_PER_USD
from axtui.store import metrics, queries, windows
from axtui.store.rollups import ATTEMPT
from axtui.store.tables import (
    ROLLUP_COUNTERS,
    SLOTS,
    EventRow,
    rollup_error_table,
    rollup_hist_table,
    rollup_table,
)

_EVENTS = EventRow.__table__.name
# each deployment's latest breaker event (plain SQL, windows.read: read every evaluation)
_LATEST_BREAKERS_SQL = (
    f"SELECT subject, detail FROM {_EVENTS} WHERE kind = 'breaker' AND id IN "
    f"(SELECT max(id) FROM {_EVENTS} WHERE kind = 'breaker' GROUP BY subject)")
STORE_METRICS = frozenset(metrics.METRIC_NAMES)
Key = tuple[str, str]  # (route, deployment) of a rollup row
_COUNTER_SQL = ", ".join(f"sum({n})" for n in ROLLUP_COUNTERS)
_SLOT_SQL = ", ".join(f"sum({n})" for n in SLOTS)


class _Window:
    """One window's rollups grouped by (route, deployment), read once for every rule that
    measures over it: a few grouped queries per distinct window instead of one or two per
    rule, in plain SQL (windows.read). Summed per scope, they are exactly what
    `windows.scope_totals` returns. Histograms are kept as the rows read them, one doubling
    of buckets a row, and made into buckets only for a scope a rule asks about."""

    def __init__(self, conn: Connection, since_ts: float, until_ts: float) -> None:
        self.conn = conn
        self.lo, self.hi = windows.window(since_ts, until_ts)
        self._segments = windows.merge_segments(windows.covering(self.lo, self.hi))
        self._counters: dict[Key, list[float]] | None = None
        self._hists: dict[str, dict[Key, list[tuple]]] = {}
        self._misses: dict[Key, int] | None = None

    def _read(self, sql: str, params: dict[str, object]) -> list[tuple]:
        """`sql`'s rows, its `{window}` the window's periods (none: no rows)."""
        if not self._segments:
            return []
        return windows.read(self.conn, sql.format(
            window=windows.segments_sql(self._segments, params)), params)

    def counters(self) -> dict[Key, list[float]]:
        if self._counters is None:
            self._counters = {(r, d): list(v) for r, d, *v in self._read(
                f"SELECT route, deployment, {_COUNTER_SQL} FROM {rollup_table.name} "
                "WHERE {window} GROUP BY route, deployment", {})}
        return self._counters

    def histograms(self, series: str) -> dict[Key, list[tuple]]:
        """(octave, *slots) rows per (route, deployment) of one series, read on first ask."""
        rows = self._hists.get(series)
        if rows is None:
            rows = self._hists[series] = {}
            for r, d, *octave_slots in self._read(  # series leads period in the key
                    f"SELECT route, deployment, octave, {_SLOT_SQL} "
                    f"FROM {rollup_hist_table.name} WHERE series = :series AND {{window}} "
                    "GROUP BY route, deployment, octave", {"series": series}):
                rows.setdefault((r, d), []).append(octave_slots)
        return rows

    def misses(self) -> dict[Key, int]:
        if self._misses is None:
            self._misses = {(r, d): int(n) for r, d, n in self._read(
                f"SELECT route, deployment, sum(n) FROM {rollup_error_table.name} "
                "WHERE series = :series AND kind = :kind AND {window} "
                "GROUP BY route, deployment", {"series": ATTEMPT, "kind": "rate_limited"})}
        return self._misses

    def totals(self, keep: Callable[[Key], bool], counters: tuple[str, ...],
               series: tuple[str, ...]) -> windows.Totals | None:
        """The scope's totals, or None when no row of the window is in the scope."""
        rows = [v for k, v in self.counters().items() if keep(k)]
        sums = dict.fromkeys(counters, 0.0)
        index = [ROLLUP_COUNTERS.index(c) for c in counters]
        for v in rows:
            for c, i in zip(counters, index, strict=True):
                sums[c] += v[i] or 0
        hists: dict[str, dict[int, int]] = {}
        for name in series:
            for k, octaves in self.histograms(name).items():
                if keep(k):
                    merged = hists.setdefault(name, {})
                    for octave, *slots in octaves:
                        windows.add_octave(merged, octave, slots)
        if not rows and not hists:
            return None
        return windows.Totals(lo=self.lo, hi=self.hi, counters=sums, histograms=hists)


class EngineState(Protocol):
    """What only the routing process knows; the host passes one built on its engine."""

    def breaker_open(self, deployment: str) -> bool | None:
        """Whether the deployment's breaker is not closed now: open, or half-open waiting
        for a trial to succeed (None: no such deployment)."""


class EngineStateSource:
    """EngineState over an `axtui.engine.engine.Engine` (read-only: never ticks a breaker,
    since the evaluator may run in a thread beside the engine's loop)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def breaker_open(self, deployment: str) -> bool | None:
        st = self.engine.deployments.get(deployment)
        if st is None:
            return None
        # `state` would tick the breaker (a transition, events) from this thread: read raw.
        # An open breaker whose time ran out is half-open: still not proven healthy, so a
        # flapping outage (open, trial fails, open again) reads as one outage, not several.
        return str(st.breaker._state) != "closed"


class StoreMetrics:
    """Rule values for one evaluation, read through one connection (see the module doc).

    `providers` maps each deployment to its provider (from the config; without one, the
    part of the deployment's name before the first "/")."""

    def __init__(self, conn: Connection, *, providers: Mapping[str, str] | None = None,
                 budgets: list[Any] | None = None, engine: EngineState | None = None,
                 slos: Mapping[str, Any] | None = None,
                 free_deployments: Iterable[str] | None = None) -> None:
        self.conn = conn
        self.providers = dict(providers or {})
        self.budgets = list(budgets or [])
        self.engine = engine
        self._memo: dict[tuple[str, str, float, float], float | None] = {}
        self._windows: dict[tuple[float, float], _Window] = {}
        self._spend: dict[tuple[str, float], dict[str | None, int]] = {}
        self._breakers: dict[str, bool] | None = None
        self._slos = dict(slos or {})  # route -> SloConfig
        self._burns: Any = None  # axtui.slo.measure.BurnReader, made on the first SLO rule
        self._oldest: dict = {}  # windows.retained's, read once an evaluation
        self.free = tuple(free_deployments or ())  # the config's free-tier deployments

    def value(self, rule: AlertRule, now: float) -> float | None:
        if rule.metric == "spend_vs_budget":
            return self._budget_pct(rule, now)
        if rule.metric == "breaker_open":
            return self._breakers_open(rule, now)
        if rule.metric in SLO_METRICS:
            return self._slo_burn(rule, now)
        key = (rule.metric, rule.scope, now - rule.window, now)
        if key not in self._memo:
            measure = self._free_share if rule.metric == "free_tier_share" else self._measure
            self._memo[key] = measure(rule, now - rule.window, now)
        return self._memo[key]

    def _free_share(self, rule: AlertRule, since_ts: float, until_ts: float) -> float | None:
        """The share of answered requests a free-tier deployment answered, over the rule's
        window: the costs view's own figure (costs/free_tier.py), from the rollups. None
        (no data) when nothing was answered."""
        from axtui.costs.free_tier import free_tier_share

        return free_tier_share(self.conn, since_ts, until_ts, self.free).share

    def _measure(self, rule: AlertRule, since_ts: float, until_ts: float) -> float | None:
        scope = metrics.parse_scope(rule.scope)
        if scope.kind == "provider" and self.providers:
            scope = scope.with_deployments(
                tuple(d for d, p in self.providers.items() if p == scope.name))
        key = (since_ts, until_ts)
        w = self._windows.get(key)
        if w is None:
            w = self._windows[key] = _Window(self.conn, since_ts, until_ts)
        keep = _keeper(scope)
        if rule.metric == "headroom_near_miss_rate":
            t = w.totals(keep, ("attempts",), ())
            attempts = int(t.counters["attempts"]) if t is not None else 0
            misses = sum(n for k, n in w.misses().items() if keep(k))
            return misses / attempts if attempts else None
        # metrics.metric_value's own computation, over totals read for every rule at once
        metric = metrics.parse_metric(rule.metric)
        metrics.check(metric, scope)
        level = metrics._ATTEMPT_LEVEL if scope.attempt_level else metrics._REQUEST_LEVEL
        counters, series = metrics._needs(metric, level)
        t = w.totals(keep, counters, series)
        value = None if t is None else metrics._value(metric, level, t, until_ts)
        if rule.metric == "cost_per_hour" and value is not None:
            return value / NANO_PER_USD  # thresholds are written in USD per hour
        return value

    def _slo_burn(self, rule: AlertRule, now: float) -> float | None:
        from axtui.slo.measure import BurnReader
        from axtui.slo.rules import OBJECTIVE_OF

        if self._burns is None:
            self._burns = BurnReader(self.conn, self._slos, self._oldest)
        return self._burns.value(rule.scope_name, OBJECTIVE_OF[rule.metric], rule.window,
                                 rule.short_window, now)

    def _provider_of(self, deployment: str) -> str:
        return self.providers.get(deployment) or deployment.partition("/")[0]

    def _deployments_in(self, rule: AlertRule, now: float) -> list[str]:
        names = set(self.providers) | set(self._stored_breakers(now))
        if rule.scope_kind == "deployment":
            return [rule.scope_name]
        # in name order: asking a replay's breaker can move it (open -> half_open), and the
        # moves of one instant are listed as asked, the same in every process
        if rule.scope_kind == "provider":
            return [d for d in sorted(names) if self._provider_of(d) == rule.scope_name]
        return sorted(names)

    def _breakers_open(self, rule: AlertRule, now: float) -> float | None:
        opened = 0
        for d in self._deployments_in(rule, now):
            # this engine's breaker (at once), or any engine's by the store's breaker events
            # (every process sharing the store then agrees)
            mine = self.engine.breaker_open(d) if self.engine is not None else None
            opened += bool(mine) or self._stored_breakers(now).get(d, False)
        return float(opened)

    def _stored_breakers(self, now: float) -> dict[str, bool]:
        """Per deployment, whether its latest breaker event left it open or half-open."""
        if self._breakers is None:
            self._breakers = {}
            for subject, detail in windows.read(self.conn, _LATEST_BREAKERS_SQL, {}):
                self._breakers[subject] = orjson.loads(detail).get("to") in ("open", "half_open")
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
                    self.conn, start, now, group, self._oldest)
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


def _keeper(scope: Any) -> Callable[[Key], bool]:
    """Whether a (route, deployment) rollup row is in `scope` (as queries' filters say)."""
    if scope.kind == "route":
        return lambda k: k[0] == scope.name
    if scope.kind == "deployment":
        return lambda k: k[1] == scope.name
    if scope.kind == "provider":
        if scope.deployments is not None:
            names = frozenset(scope.deployments)
            return lambda k: k[1] in names
        prefix = f"{scope.name}/"
        return lambda k: k[1].startswith(prefix)
    return lambda k: True
