"""An alert's detail: its rule, the value history from its events, and the runbook note."""

from __future__ import annotations

from rich.text import Text

from axtui.snapshot.model import AlertView
from axtui.tui.components.alerts import metric_value
from axtui.tui.context import ConsoleContext
from axtui.tui.screens.detail import DetailScreen, clock_time


class AlertDetail(DetailScreen):
    def __init__(self, alert: AlertView, context: ConsoleContext) -> None:
        super().__init__(alert.name, context)
        self.alert = alert

    def heading(self) -> str:
        return f"alert {self.subject}   (esc back)"

    def read(self) -> Text:
        a = self.alert
        t = Text()
        t.append("rule\n", "bold")
        t.append(f"  {a.severity.upper()}  {a.metric} of {a.scope} {a.op} "
                 f"{metric_value(a.metric, a.threshold)} for {a.for_s:g}s\n  {a.summary}\n")
        value = metric_value(a.metric, a.value)
        t.append(f"  now: {a.state} since {clock_time(a.since)}, value {value}\n")
        if a.acked_by:
            t.append(f"  acknowledged by {a.acked_by} at {clock_time(a.acked_at)}\n")
        if a.silenced_by:
            t.append(f"  silenced by {a.silenced_by} until {clock_time(a.silenced_until)}\n")
        t.append("\nhistory (newest first)\n", "bold")
        events = [e for e in self.context.store.events(subject=a.name, limit=200)
                  if e.kind.startswith("alert")]
        if not events:
            t.append("  no transitions recorded\n")
        for e in events[:50]:
            v = e.detail.get("value")
            shown = "" if v is None else f"  value {metric_value(a.metric, v)}"
            t.append(f"  {clock_time(e.ts)}  {e.kind.removeprefix('alert.')}{shown}\n")
        t.append("\nrunbook\n", "bold")
        t.append(f"  {a.runbook or 'none written: add annotations.runbook to the rule'}\n")
        return t
