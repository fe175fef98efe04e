"""Operator actions on alerts (the CLI, the admin API and the console call these): acknowledge,
silence, and rules kept in the store. Each is a control-plane write and its typed event in
one transaction, so every process sees it and the log says who did it and why."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sqlalchemy import select

from axtui.alerts.rules import AlertRule
from axtui.alerts.state import (
    ACK_PREFIX,
    RULE_PREFIX,
    SILENCE_PREFIX,
    Ack,
    AlertAckEvent,
    AlertRuleEvent,
    AlertSilenceEvent,
    Silence,
    alert_controls,
)
from axtui.store import control
from axtui.store.tables import AlertStateRow

if TYPE_CHECKING:
    from axtui.store.db import Store


class AlertActionError(ValueError):
    """A refused action, in one line (unknown alert, bad matcher, not silenced...)."""


def parse_matchers(items: list[str]) -> dict[str, str]:
    """`k=v` pairs (v may hold * and ? globs); keys are labels or alertname, severity,
    scope, metric."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value or not key.replace("_", "").isalnum():
            raise AlertActionError(f"bad matcher {item!r}: use key=value, e.g. "
                                   "severity=critical or alertname=mistral-*")
        out[key] = value
    if not out:
        raise AlertActionError("a silence needs a rule name or at least one --match key=value")
    return out


def _write(store: Store, key: str, value: dict | None, kind: str, subject: str,
           detail: dict, by: str) -> None:
    now = store.clock.now()
    with store.begin() as conn:
        if value is None:
            control.delete_control(conn, key, native_upsert=store.native_upsert)
        else:
            control.set_control(conn, key, value, by=by, now=now,
                                native_upsert=store.native_upsert)
        control.add_event(conn, kind, subject, detail, now)


ACKABLE = ("pending", "firing", "nodata")


def ack(store: Store, name: str, by: str, note: str = "") -> Ack:
    """Acknowledge: the alert stays visible, repeat notifications stop, until it resolves
    or is unacknowledged. Only an active alert: an ack of a quiet one would mute the
    next firing before anyone has seen it."""
    with store.connect() as conn:
        state = conn.execute(select(AlertStateRow.__table__.c.state)
                             .where(AlertStateRow.__table__.c.name == name)).scalar()
    if state not in ACKABLE:
        raise AlertActionError(f"alert {name!r} is {state or 'not evaluated yet'}: only a "
                               "pending, firing or no-data alert can be acknowledged")
    a = Ack(by=by, at=store.clock.now(), note=note)
    _write(store, ACK_PREFIX + name, a.model_dump(), "alert.ack", name,
           AlertAckEvent(rule=name, by=by, note=note).model_dump(), by)
    return a


def unack(store: Store, name: str, by: str) -> bool:
    if store.get_control(ACK_PREFIX + name) is None:
        return False
    _write(store, ACK_PREFIX + name, None, "alert.unack", name,
           AlertAckEvent(rule=name, by=by).model_dump(), by)
    return True


def silence(store: Store, matchers: dict[str, str], duration_s: float, reason: str,
            by: str) -> Silence:
    if duration_s <= 0:
        raise AlertActionError("a silence needs a positive --for duration")
    if not reason.strip():
        raise AlertActionError("a silence needs --reason (it is audited)")
    now = store.clock.now()
    s = Silence(id=os.urandom(4).hex(), matchers=matchers, starts_at=now,
                ends_at=now + duration_s, by=by, reason=reason.strip())
    _write(store, SILENCE_PREFIX + s.id, s.model_dump(), "alert.silence", s.id,
           AlertSilenceEvent(**s.model_dump()).model_dump(), by)
    return s


def unsilence(store: Store, silence_id: str, by: str) -> Silence:
    entry = store.get_control(SILENCE_PREFIX + silence_id)
    if entry is None:
        raise AlertActionError(f"no silence {silence_id!r} (axtui alerts list shows them)")
    s = Silence.model_validate(entry.value)
    _write(store, SILENCE_PREFIX + silence_id, None, "alert.unsilence", silence_id,
           AlertSilenceEvent(**{**s.model_dump(), "by": by}).model_dump(), by)
    return s


def create_rule(store: Store, rule: AlertRule, by: str, taken: set[str]) -> None:
    """Keep `rule` in the store; `taken` are the names of the config's rules."""
    if "[" in rule.name:
        raise AlertActionError("a rule name cannot hold [ ] (kept for a wildcard rule's alerts)")
    if rule.name in taken or store.get_control(RULE_PREFIX + rule.name) is not None:
        raise AlertActionError(f"alert rule {rule.name!r} already exists")
    rule = rule.model_copy(update={"origin": "store"})
    _write(store, RULE_PREFIX + rule.name, rule.to_json(), "alert.rule_created", rule.name,
           AlertRuleEvent(rule=rule.to_json(), by=by).model_dump(), by)


def delete_rule(store: Store, name: str, by: str) -> AlertRule:
    entry = store.get_control(RULE_PREFIX + name)
    if entry is None:
        raise AlertActionError(f"no alert rule {name!r} in the store (rules in the config "
                               "are changed in the config)")
    rule = AlertRule.model_validate(entry.value)
    _write(store, RULE_PREFIX + name, None, "alert.rule_deleted", name,
           AlertRuleEvent(rule=rule.to_json(), by=by).model_dump(), by)
    return rule


def stored_rules(store: Store) -> list[AlertRule]:
    with store.connect() as conn:
        return alert_controls(conn)[2]
