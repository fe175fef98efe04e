"""Ack and silence dialogs for the focused alert. Both are audited writes (who, when, why)
run in a worker; the alert's state, value and threshold are named in the dialog."""

from __future__ import annotations

import asyncio
import logging

from textual.widgets import Button

from axtui.alerts.rules import value_text
from axtui.snapshot.model import AlertView
from axtui.tui import alert_ops
from axtui.tui.context import ConsoleContext
from axtui.tui.screens.reason import ReasonScreen
from axtui.units import parse_duration  # the one duration parser: 30m, 2h, 1h30m, 1d

log = logging.getLogger(__name__)


def describe(a: AlertView) -> str:
    value, threshold = value_text(a.value, a.metric), value_text(a.threshold, a.metric)
    lines = [f"{a.severity.upper()} {a.state}: {a.summary}",
             f"{a.metric} {a.scope}: {value} {a.op} {threshold} (for {a.for_s:g}s)"]
    if a.acked_by:
        lines.append(f"acknowledged by {a.acked_by}")
    if a.silenced_by:
        lines.append(f"silenced by {a.silenced_by}")
    return "\n".join(lines)


class _AlertAction(ReasonScreen):
    def __init__(self, alert: AlertView, context: ConsoleContext, title: str, body: str,
                 confirm: str, reason_required: bool, placeholder: str) -> None:
        super().__init__(title, body, confirm=confirm, reason_required=reason_required,
                         placeholder=placeholder)
        self.alert = alert
        self.context = context

    def confirmed(self, reason: str) -> None:
        if self.context.readonly:
            self.notify("read-only console: refused", severity="error")
            self.dismiss(None)
            return
        try:
            call = self.operation(reason)
        except ValueError as e:
            self.notify(str(e), severity="error")
            return
        self.query_one("#confirm", Button).disabled = True
        self.run_worker(self._run(call), exit_on_error=False, group="alert-action")

    def operation(self, text: str):
        raise NotImplementedError

    async def _run(self, call) -> None:
        try:
            line = await asyncio.to_thread(call)
        except Exception as e:  # unknown alert, store locked, alerts package missing: say it
            log.warning("alert %s action failed: %s", self.alert.name, e)
            self.notify(f"{self.alert.name}: {e}", severity="error")
            self.query_one("#confirm", Button).disabled = False
            return
        self.notify(line, title="audited")
        self.dismiss(line)


class AckScreen(_AlertAction):
    def __init__(self, alert: AlertView, context: ConsoleContext) -> None:
        super().__init__(alert, context, f"Acknowledge alert {alert.name}?",
                         describe(alert) + "\n\nIt stays visible; repeat notifications stop.",
                         "Ack", False, "note (optional, audited)")

    def operation(self, text: str):
        c = self.context
        return lambda: alert_ops.ack(c.store, self.alert.name, c.by, text)


class SilenceScreen(_AlertAction):
    """The reason box takes `DURATION reason`, e.g. `2h provider incident, ticket 123`."""

    def __init__(self, alert: AlertView, context: ConsoleContext) -> None:
        super().__init__(alert, context, f"Silence alert {alert.name}?",
                         describe(alert) + "\n\nType the duration then why, e.g. "
                         "\"2h provider incident\". Notifications stop until it ends.",
                         "Silence", True, "DURATION reason (e.g. 2h provider incident)")

    def operation(self, text: str):
        duration, _, reason = text.partition(" ")
        seconds = parse_duration(duration)
        if not reason.strip():
            raise ValueError("a silence needs a reason after the duration")
        c = self.context
        return lambda: alert_ops.silence(c.store, self.alert.name, c.by, seconds,
                                         reason.strip())
