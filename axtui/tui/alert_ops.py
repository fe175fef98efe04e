"""Ack and silence as the console calls them: through `axtui.alerts.actions`, the operations
`axtui alerts ack|silence` use. A build without that package refuses with one line."""

from __future__ import annotations

from importlib import import_module


class AlertOpsUnavailable(RuntimeError):
    pass


def _actions():
    try:
        return import_module("axtui.alerts.actions")
    except ModuleNotFoundError:
        raise AlertOpsUnavailable("alert ack/silence need axtui.alerts.actions, which this "
                                  "build lacks") from None


def ack(store, name: str, by: str, note: str = "") -> str:
    a = _actions().ack(store, name, by, note)
    return f"alert {name}: acknowledged by {a.by}"


def silence(store, name: str, by: str, duration_s: float, reason: str) -> str:
    s = _actions().silence(store, {"alertname": name}, duration_s, reason, by)
    return f"alert {name}: silenced for {duration_s / 60:g} min (silence {s.id})"
