"""Ack and silence as the console calls them. They go through `axtui.alerts.actions` (the
operations the CLI uses, from the alerts branch); until that package is present they refuse
with one line instead of pretending."""

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
