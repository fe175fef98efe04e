"""The alert state machine, as Prometheus and Alertmanager define it.

    inactive ──true──▶ pending ──true for `for`──▶ firing ──false──▶ resolved ──▶ inactive
        ▲                 │ false                                     (after resolved_keep)
        └─────────────────┘
    any ──no data──▶ nodata ──data──▶ as above (a firing alert stays firing, or resolves)

No data is a state of its own, never silently fine. Each evaluation reads the rules (config,
budgets, store), the previous states and the metric values in one transaction, writes the
new states and one typed event per transition, and hands notifications (firing, resolved,
no data while firing, and repeats while firing unacknowledged and unsilenced) to the
notifier, which delivers them on its own thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from axtui.alerts.rules import AlertRule, budget_rules
from axtui.alerts.sources import EngineState, EngineStateSource, StoreMetrics
from axtui.alerts.state import (
    ACK_PREFIX,
    AlertStateName,
    AlertTransitionEvent,
    alert_controls,
    silence_for,
)
from axtui.clock import Clock, VirtualClock
from axtui.store import control
from axtui.store.ingest import add_counters
from axtui.store.tables import AlertStateRow

log = logging.getLogger(__name__)
_S = AlertStateRow.__table__.c
EVALUATIONS = "alerts.evaluations"  # a store counter: every process's evaluations
_ROW_FIELDS = ("state", "value", "threshold", "since", "active_since", "evaluated_at",
               "last_notified_at", "rule")


class MetricReader(Protocol):
    def value(self, rule: AlertRule, now: float) -> float | None: ...


class Notifier(Protocol):
    def submit(self, notification: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Transition:
    rule: AlertRule
    from_state: AlertStateName
    to_state: AlertStateName
    value: float | None
    at: float

    @property
    def kind(self) -> str:
        return f"alert.{self.to_state}"


@dataclass(frozen=True, slots=True)
class Step:
    """One rule's next state: what an evaluation would write."""

    state: AlertStateName
    since: float
    active_since: float | None


def step(rule: AlertRule, state: AlertStateName, since: float, active_since: float | None,
         holds: bool | None, now: float, resolved_keep_s: float) -> Step:
    """The state machine. `holds` is the condition now (None: no data)."""
    if holds is None:
        if state == "nodata":
            return Step(state, since, active_since)
        return Step("nodata", now, active_since if state == "firing" else None)
    if state == "firing":
        return Step(state, since, active_since) if holds else Step("resolved", now, None)
    if state == "pending":
        if not holds:
            return Step("inactive", now, None)
        if now - (active_since or since) >= rule.for_:
            return Step("firing", now, active_since)
        return Step(state, since, active_since)
    if state == "nodata" and active_since is not None:  # was firing before the data stopped
        return Step("firing", now, active_since) if holds else Step("resolved", now, None)
    if holds:
        return Step("firing" if rule.for_ <= 0 else "pending", now, now)
    if state == "resolved" and now - since < resolved_keep_s:
        return Step(state, since, None)
    return Step("inactive", since if state == "inactive" else now, None)


@dataclass(frozen=True, slots=True)
class Preview:
    """`axtui alerts test`: the value now and the state an evaluation would move to."""

    rule: AlertRule
    value: float | None
    holds: bool | None
    state: AlertStateName  # as stored now
    would_be: AlertStateName


@dataclass(frozen=True, slots=True)
class RuleSet:
    """What one evaluation judges by, from one config: its rules and what they measure
    against. Swapped whole by `reconfigure`, and read once per evaluation, so an evaluation
    never mixes two configs' rules, routes, budgets or SLOs."""

    rules: tuple[AlertRule, ...]
    providers: dict[str, str]  # deployment -> provider
    routes: tuple[str, ...]
    budgets: tuple[Any, ...]
    slos: dict[str, Any]  # route -> SloConfig: what slo_*_burn rules measure
    free: tuple[str, ...]  # the free-tier deployments: what free_tier_share counts


def config_rules(config: Any) -> list[AlertRule]:
    """The config's rules: its [[alerts]], one per budget threshold unless
    `[alerting] budget_alerts` is off, and three burn-rate rules per SLO objective."""
    from axtui.slo.rules import slo_rules

    rules = list(config.alerts)
    if config.alerting.budget_alerts:
        rules += budget_rules(config.budgets)
    return rules + slo_rules(config.slos())


def reads_request_rows(config: Any) -> bool:
    """Whether evaluating `config`'s rules reads the store's request rows, not only its
    rollups: a budget per user or key (the rollups keep spend by route and deployment; a
    user's or key's is summed from the rows). A store only this evaluator reads (a replay's
    scratch store) can go without rows otherwise."""
    return bool(config.alerting.budget_alerts) and any(
        b.scope.partition(":")[0] in ("user", "key") for b in config.budgets)


class AlertEvaluator:
    """Evaluates every rule on the engine's clock. `evaluate(now)` is blocking (store reads
    and one write transaction): call it off the event loop; `run()` does, every
    `interval_s` of the clock (virtual time on a VirtualClock). `reconfigure(config)`
    takes a reloaded config's rules from the next evaluation on."""

    def __init__(
        self,
        store: Any,
        rules: Iterable[AlertRule],
        clock: Clock,
        *,
        engine_source: EngineState | None = None,
        notifier: Notifier | None = None,
        providers: dict[str, str] | None = None,
        routes: list[str] | None = None,
        budgets: list[Any] | None = None,
        slos: dict[str, Any] | None = None,
        free_deployments: Iterable[str] | None = None,
        interval_s: float = 15.0,
        repeat_interval_s: float = 4 * 3600.0,
        resolved_keep_s: float = 900.0,
        metrics: Callable[[Connection], MetricReader] | None = None,
        before_evaluate: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.ruleset = RuleSet(tuple(rules), dict(providers or {}), tuple(routes or ()),
                               tuple(budgets or ()), dict(slos or {}),
                               tuple(sorted(free_deployments or ())))
        self.clock = clock
        self.engine_source = engine_source
        self.notifier = notifier
        self.interval_s = interval_s
        self.repeat_interval_s = repeat_interval_s
        self.resolved_keep_s = resolved_keep_s
        self._metrics = metrics  # None: the store's (StoreMetrics)
        self.before_evaluate = before_evaluate  # e.g. flush the recorder in a virtual run
        self.recent: deque[Transition] = deque(maxlen=1000)  # for faces that embed us
        self.evaluations = 0
        self.failures = 0  # evaluations that raised (logged; the loop goes on)
        self.metric_errors = 0  # rule values that raised (shown as nodata)

    @classmethod
    def from_config(cls, store: Any, config: Any, clock: Clock, *, engine: Any = None,
                    **kw: Any) -> AlertEvaluator:
        """The config's rules, plus one per budget threshold unless alerting.budget_alerts
        is off; interval, repeat and resolved-keep from `[alerting]`. With `engine` (an
        axtui Engine), breaker_open also reads its breakers (at once, not by events)."""
        a = config.alerting
        if engine is not None:
            kw.setdefault("engine_source", EngineStateSource(engine))
        for name, value in _measured(config).items():
            kw.setdefault(name, value)
        kw.setdefault("interval_s", a.interval_s)
        kw.setdefault("repeat_interval_s", a.repeat_interval)
        kw.setdefault("resolved_keep_s", a.resolved_keep)
        return cls(store, config_rules(config), clock, **kw)

    def reconfigure(self, config: Any) -> None:
        """A reloaded config's rules (its [[alerts]], budgets and SLOs) and what they
        measure against, from the next evaluation on; one evaluation in progress finishes
        on the rules it began with. Alert states carry over by rule name: a rule the config
        no longer makes leaves at the next evaluation. `[alerting]` (interval, webhooks,
        budget_alerts) is the running one's: `config` has it pinned until a restart."""
        m = _measured(config)
        self.ruleset = RuleSet(tuple(config_rules(config)), m["providers"],
                               tuple(m["routes"]), tuple(m["budgets"]), m["slos"],
                               tuple(m["free_deployments"]))

    @property
    def rules(self) -> list[AlertRule]:
        """The configured rules as they are now (an evaluation reads `ruleset` once)."""
        return list(self.ruleset.rules)

    def _store_metrics(self, conn: Connection, rs: RuleSet | None = None) -> MetricReader:
        rs = rs or self.ruleset
        return StoreMetrics(conn, providers=rs.providers, budgets=list(rs.budgets),
                            engine=self.engine_source, slos=rs.slos,
                            free_deployments=rs.free)

    def _measure_with(self, conn: Connection, rs: RuleSet | None = None) -> MetricReader:
        if self._metrics is not None:
            return self._metrics(conn)
        return self._store_metrics(conn, rs)

    def all_rules(self, stored: list[AlertRule], rs: RuleSet | None = None
                  ) -> list[AlertRule]:
        """The configured rules, then the store's (a store rule never shadows a config one),
        as written: a wildcard rule is one rule here (see `instances`)."""
        rules = list((rs or self.ruleset).rules)
        names = {r.name for r in rules}
        return rules + [r for r in stored if r.name not in names]

    def instances(self, rule: AlertRule, rs: RuleSet | None = None) -> list[AlertRule]:
        """The alerts a rule makes: itself, or one per route, deployment or provider of
        the config for a wildcard scope."""
        if not rule.wildcard:
            return [rule]
        rs = rs or self.ruleset
        names = {"route": list(rs.routes), "deployment": sorted(rs.providers),
                 "provider": sorted(set(rs.providers.values()))}[rule.scope_kind]
        return [rule.instance(n) for n in names]

    def _value(self, metrics: MetricReader, rule: AlertRule, now: float) -> float | None:
        try:
            return metrics.value(rule, now)
        except (ValueError, KeyError, ArithmeticError) as e:  # a rule's bad value: nodata
            self.metric_errors += 1
            log.warning("alert %s: cannot measure %s: %s", rule.name, rule.metric, e)
            return None

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, now: float | None = None) -> list[Transition]:
        """One evaluation of every rule at `now` (default the clock's); returns the
        transitions it made (each also logged as an event in the store)."""
        now = self.clock.now() if now is None else now
        if self.before_evaluate is not None:
            self.before_evaluate()
        notify: list[tuple[str, AlertRule, float | None]] = []
        transitions: list[Transition] = []
        with self.store.begin() as conn:
            # A write first takes the store's write lock: evaluators in several processes
            # sharing the store then take turns, and each reads the states the last wrote,
            # so a transition is made (and notified) once, not once per process.
            add_counters(conn, {EVALUATIONS: 1}, native=self.store.native_upsert)
            acks, silences, stored = alert_controls(conn)
            rs = self.ruleset  # once: a reload meanwhile applies from the next evaluation
            rules = [i for r in self.all_rules(stored, rs) for i in self.instances(r, rs)]
            prev = {r.name: r for r in conn.execute(select(AlertStateRow.__table__))}
            metrics = self._measure_with(conn, rs)
            updates, inserts = [], []
            for rule in rules:
                value = self._value(metrics, rule, now)
                holds = None if value is None else rule.holds(value)
                row = prev.get(rule.name)
                state = row.state if row is not None else "inactive"
                since = row.since if row is not None else now
                s = step(rule, state, since, row.active_since if row else None, holds, now,
                         self.resolved_keep_s)
                last_notified = row.last_notified_at if row is not None else None
                if s.state != state:
                    transitions.append(Transition(rule, state, s.state, value, now))
                    if s.state in ("firing", "resolved") or (
                            s.state == "nodata" and state == "firing"):
                        notify.append((s.state, rule, value))
                        last_notified = now
                elif (s.state == "firing" and rule.name not in acks
                      and (last_notified is None or now - last_notified >= self.repeat_interval_s)):
                    notify.append(("repeat", rule, value))
                    last_notified = now
                fields = {"state": s.state, "value": value, "threshold": rule.threshold,
                          "since": s.since, "active_since": s.active_since,
                          "evaluated_at": now, "last_notified_at": last_notified,
                          "rule": rule.model_dump_json(by_alias=True)}
                (updates if row is not None else inserts).append({"name": rule.name, **fields})
            self._write(conn, updates, inserts, set(prev) - {r.name for r in rules})
            for t in transitions:
                control.add_event(conn, t.kind, t.rule.name, _event(t), now)
                if t.to_state in ("resolved", "inactive") and t.rule.name in acks:
                    control.delete_control(conn, ACK_PREFIX + t.rule.name,
                                           native_upsert=self.store.native_upsert)
        self.evaluations += 1
        self.recent.extend(transitions)
        if self.notifier is not None:
            for kind, rule, value in notify:
                if silence_for(rule, silences, now) is None:
                    self.notifier.submit(_notification(kind, rule, value, now))
        return transitions

    @staticmethod
    def _write(conn: Connection, updates: list[dict], inserts: list[dict],
               gone: set[str]) -> None:
        t = AlertStateRow.__table__
        if updates:
            stmt = update(t).where(_S.name == bindparam("b_name")).values(
                {f: bindparam(f"b_{f}") for f in _ROW_FIELDS})
            conn.execute(stmt, [{f"b_{k}": v for k, v in u.items()} for u in updates])
        if inserts:
            conn.execute(insert(t), inserts)
        if gone:  # rules deleted from the config or the store
            conn.execute(delete(t).where(_S.name.in_(sorted(gone))))

    def preview(self, rule: AlertRule, now: float | None = None) -> Preview:
        """What an evaluation would find for `rule` now, writing nothing."""
        now = self.clock.now() if now is None else now
        with self.store.connect() as conn:
            value = self._value(self._measure_with(conn), rule, now)
            row = conn.execute(select(AlertStateRow.__table__).where(
                _S.name == rule.name)).first()
        holds = None if value is None else rule.holds(value)
        state = row.state if row is not None else "inactive"
        s = step(rule, state, row.since if row else now, row.active_since if row else None,
                 holds, now, self.resolved_keep_s)
        return Preview(rule, value, holds, state, s.state)

    async def run(self, interval_s: float | None = None) -> None:
        """Evaluate now and then every `interval_s` of the clock, until cancelled. On a
        VirtualClock the evaluation runs inline (virtual time stands still meanwhile);
        otherwise in a thread, so the event loop keeps routing."""
        interval = self.interval_s if interval_s is None else interval_s
        inline = isinstance(self.clock, VirtualClock)
        while True:
            try:
                if inline:
                    self.evaluate()
                else:
                    await asyncio.to_thread(self.evaluate)
            except Exception as e:  # a locked or broken store: counted, logged, retried
                self.failures += 1
                log.warning("alert evaluation failed: %s: %s", type(e).__name__, e)
            await self.clock.sleep(interval)


def _measured(config: Any) -> dict[str, Any]:
    """What a config's rules are measured against (the evaluator's keyword arguments)."""
    from axtui.costs.free_tier import free_deployments

    return {"slos": config.slos(),
            "providers": {d.id: d.provider for d in config.deployments},
            "routes": list(config.routes), "budgets": list(config.budgets),
            "free_deployments": free_deployments(config)}


def _event(t: Transition) -> dict:
    r = t.rule
    return AlertTransitionEvent(
        rule=r.name, from_state=t.from_state, to_state=t.to_state, value=t.value,
        threshold=r.threshold, operator=r.operator, metric=r.metric, scope=r.scope,
        severity=r.severity, condition=r.condition(), summary=r.annotations.summary,
        labels=r.labels,
    ).model_dump(mode="json")


def _notification(kind: str, rule: AlertRule, value: float | None, at: float):
    from axtui.alerts.notifiers import Notification

    return Notification(kind=kind, rule=rule.name, severity=rule.severity, metric=rule.metric,
                        scope=rule.scope, condition=rule.condition(), value=value,
                        threshold=rule.threshold, summary=rule.annotations.summary,
                        runbook=rule.annotations.runbook, labels=rule.identity(), at=at)
