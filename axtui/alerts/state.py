"""Alert state as every process reads it: each rule's state row (written by the evaluator),
acknowledgements and silences (in the control plane, so every process sees them), and the
typed events of the alert log.

`read_alert_statuses(conn, now)` is the one read a snapshot makes: the rows and the alert
control entries, through the caller's connection (its transaction).
"""

from __future__ import annotations

import fnmatch
import time
from functools import lru_cache
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, select

from axtui.alerts.rules import AlertRule
from axtui.store.control import StoredEvent
from axtui.store.tables import AlertStateRow, ControlRow

AlertStateName = Literal["inactive", "pending", "firing", "resolved", "nodata"]
ACK_PREFIX = "alert.ack:"
SILENCE_PREFIX = "alert.silence:"
RULE_PREFIX = "alert.rule:"
_ORDER = {"firing": 0, "pending": 1, "nodata": 2, "resolved": 3, "inactive": 4}
_SEVERITY = {"critical": 0, "warning": 1, "info": 2}
_S = AlertStateRow.__table__.c
_C = ControlRow.__table__.c


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Ack(_Frozen):
    by: str
    at: float
    note: str = ""


class Silence(_Frozen):
    """Mutes notifications of every alert whose identity matches all `matchers` (exact
    values, or globs with * and ?) between `starts_at` and `ends_at`."""

    id: str
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    by: str
    reason: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, identity: dict[str, str]) -> bool:
        # exact first: an alert's name may hold [ ], which a glob reads as a class
        return all(k in identity and (identity[k] == v or fnmatch.fnmatchcase(identity[k], v))
                   for k, v in self.matchers.items())


class AlertStatus(_Frozen):
    """One rule's alert as the console, `axtui alerts` and /metrics show it."""

    name: str
    state: AlertStateName
    severity: str
    metric: str
    scope: str
    operator: str
    threshold: float
    window_s: float
    for_s: float
    value: float | None  # None: no data in the window
    since: float  # entered `state` at
    active_since: float | None  # pending or firing since
    evaluated_at: float
    condition: str
    summary: str
    runbook: str
    labels: dict[str, str]
    origin: str
    ack: Ack | None
    silenced_by: Silence | None  # the active silence that mutes it
    notifications_sent: int
    notifications_failed: int

    @property
    def firing(self) -> bool:
        return self.state == "firing"


def alert_controls(conn: Connection) -> tuple[dict[str, Ack], list[Silence], list[AlertRule]]:
    """Acks by rule name, every silence (expired ones too), and the rules made in the store."""
    rows = conn.execute(select(_C.key, _C.value).where(_C.key.like("alert.%"))).all()
    acks: dict[str, Ack] = {}
    silences: list[Silence] = []
    rules: list[AlertRule] = []
    for key, value in rows:
        v = orjson.loads(value)
        if key.startswith(ACK_PREFIX):
            acks[key[len(ACK_PREFIX):]] = Ack.model_validate(v)
        elif key.startswith(SILENCE_PREFIX):
            silences.append(Silence.model_validate(v))
        elif key.startswith(RULE_PREFIX):
            rules.append(AlertRule.model_validate(v))
    silences.sort(key=lambda s: (s.starts_at, s.id))
    return acks, silences, rules


def silence_for(rule: AlertRule, silences: list[Silence], now: float) -> Silence | None:
    identity = rule.identity()
    return next((s for s in silences if s.active(now) and s.matches(identity)), None)


@lru_cache(maxsize=4096)
def _rule(text: str) -> tuple[AlertRule, str]:
    """A stored rule and its condition, parsed once: rules change rarely, snapshots are
    read often."""
    rule = AlertRule.model_validate_json(text)
    return rule, rule.condition()


def read_alert_statuses(conn: Connection, now: float | None = None) -> list[AlertStatus]:
    """Every rule's alert, most urgent first (firing by severity, then pending, nodata,
    resolved, inactive). `now` decides which silences are active (default: wall time;
    pass the clock's time in a virtual run)."""
    now = time.time() if now is None else now
    acks, silences, _ = alert_controls(conn)
    out = []
    for row in conn.execute(select(AlertStateRow.__table__)):
        rule, condition = _rule(row.rule)
        out.append(AlertStatus(
            name=row.name, state=row.state, severity=rule.severity, metric=rule.metric,
            scope=rule.scope, operator=rule.operator, threshold=row.threshold,
            window_s=rule.window, for_s=rule.for_, value=row.value, since=row.since,
            active_since=row.active_since, evaluated_at=row.evaluated_at,
            condition=condition, summary=rule.annotations.summary,
            runbook=rule.annotations.runbook, labels=rule.labels, origin=rule.origin,
            ack=acks.get(row.name), silenced_by=silence_for(rule, silences, now),
            notifications_sent=row.notifications_sent,
            notifications_failed=row.notifications_failed,
        ))
    out.sort(key=lambda a: (_ORDER[a.state], _SEVERITY.get(a.severity, 3), a.name))
    return out


def firing_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """{(rule name, severity): alerts of it firing}: the `axtui_alerts_firing` series (a
    wildcard rule counts each of its alerts under its own name)."""
    out: dict[tuple[str, str], int] = {}
    q = select(_S.name, _S.rule).where(_S.state == "firing")
    for name, text in conn.execute(q):
        key = (name.partition("[")[0], _rule(text)[0].severity)
        out[key] = out.get(key, 0) + 1
    return out


# --------------------------------------------------------------------------- typed events


class AlertTransitionEvent(_Frozen):
    """alert.pending | alert.firing | alert.resolved | alert.nodata | alert.inactive"""

    rule: str
    from_state: AlertStateName
    to_state: AlertStateName
    value: float | None
    threshold: float
    operator: str
    metric: str
    scope: str
    severity: str
    condition: str
    summary: str = ""
    labels: dict[str, str] = {}


class AlertAckEvent(_Frozen):
    """alert.ack | alert.unack"""

    rule: str
    by: str
    note: str = ""


class AlertSilenceEvent(_Frozen):
    """alert.silence | alert.unsilence"""

    id: str
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    by: str
    reason: str = ""


class AlertNotifyFailedEvent(_Frozen):
    """alert.notify_failed: a notification given up after every retry (or dropped)."""

    rule: str
    transition: str
    webhook: str  # redacted: scheme and host only
    attempts: int
    error: str


class AlertRuleEvent(_Frozen):
    """alert.rule_created | alert.rule_deleted"""

    rule: dict[str, Any]
    by: str


TRANSITION_KINDS = ("alert.pending", "alert.firing", "alert.resolved", "alert.nodata",
                    "alert.inactive")
EVENT_MODELS: dict[str, type[_Frozen]] = {
    **{k: AlertTransitionEvent for k in TRANSITION_KINDS},
    "alert.ack": AlertAckEvent, "alert.unack": AlertAckEvent,
    "alert.silence": AlertSilenceEvent, "alert.unsilence": AlertSilenceEvent,
    "alert.notify_failed": AlertNotifyFailedEvent,
    "alert.rule_created": AlertRuleEvent, "alert.rule_deleted": AlertRuleEvent,
}


def alert_event(e: StoredEvent) -> _Frozen | None:
    """The typed detail of an alert event (None for other kinds)."""
    model = EVENT_MODELS.get(e.kind)
    return None if model is None else model.model_validate(e.detail)
