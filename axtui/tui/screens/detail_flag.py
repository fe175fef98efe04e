"""A flag's detail: the cohort-vs-baseline report (flags/report.py, as `axtui flags report`
prints it) and the audit history of every change."""

from __future__ import annotations

from rich.text import Text

from axtui.flags.gates import evaluate_gates
from axtui.flags.ops import get_flag
from axtui.flags.report import render_report
from axtui.tui.screens.detail import DetailScreen, clock_time


def audit_line(e) -> str:
    d = e.detail
    frm = "new" if d.get("from") is None else f"{d['from']:g}%"
    line = f"{clock_time(e.ts)}  {d.get('action', e.kind):9} {frm} → {d.get('to') or 0:g}%  " \
           f"by {d.get('by')}"
    if d.get("forced"):
        line += "  FORCED (" + ", ".join(v["rule"] for v in d.get("overridden", [])) + ")"
    if d.get("reason"):
        line += f"  \"{d['reason']}\""
    return line


class FlagDetail(DetailScreen):
    def heading(self) -> str:
        return f"flag {self.subject}   (esc back)"

    def read(self) -> Text:
        store = self.context.store
        state, _ = get_flag(store, self.subject)
        report = evaluate_gates(store, state, store.clock.now())
        t = Text()
        t.append("\n".join(render_report(report)) + "\n")
        t.append("\naudit history (newest first)\n", "bold")
        events = store.events(kind="flag", subject=self.subject, limit=100)
        if not events:
            t.append("  none\n")
        for e in events:
            t.append(f"  {audit_line(e)}\n")
        return t
