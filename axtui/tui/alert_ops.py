"""Ack and silence as the console calls them: through `axtui.alerts.actions`, the operations
`axtui alerts ack|silence` use."""

from __future__ import annotations

from axtui.alerts import actions


def ack(store, name: str, by: str, note: str = "") -> str:
    a = actions.ack(store, name, by, note)
    return f"alert {name}: acknowledged by {a.by}"


def silence(store, name: str, by: str, duration_s: float, reason: str) -> str:
    s = actions.silence(store, {"alertname": name}, duration_s, reason, by)
    return f"alert {name}: silenced for {duration_s / 60:g} min (silence {s.id})"
