"""The header: the mode, the pulse of the traffic, and how fresh it is."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from axtui.snapshot.model import Pulse
from axtui.tui import format as fmt
from axtui.tui.palette import Palette

WARN_AFTER_S = 5.0  # "updated Ns ago" turns to a warning after this (or 3 refreshes)
STALE_AFTER_S = 15.0  # then to an error badge
COMPACT_BELOW = 110  # columns: shorter words and single gaps, so 80 columns hold the pulse


def freshness(age_s: float | None, refresh_s: float, failing: bool) -> str:
    """fresh, warning or stale: the header's colour for the data's age."""
    if age_s is None:
        return "stale" if failing else "warning"
    if failing or age_s >= STALE_AFTER_S:
        return "stale"
    if age_s >= max(WARN_AFTER_S, 3 * refresh_s):
        return "warning"
    return "fresh"


class PulseHeader(Static):
    def show(self, *, mode: str, where: str, pulse: Pulse | None, age_s: float | None,
             level: str, palette: Palette, paused: bool, readonly: bool,
             problem: str | None = None) -> None:
        compact = 0 < self.size.width < COMPACT_BELOW
        gap = " " if compact else "  "
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" axtui ", style="bold")
        t.append(f" {mode} ", style="reverse bold")
        if where:
            t.append(f" {where}")
        if pulse is not None:
            rate = pulse.request_rate
            t.append(f"{gap}{rate:.0f} rps" if rate >= 10 else f"{gap}{rate:.1f} rps")
            ok = pulse.success_rate
            t.append(f"{gap}ok {fmt.percent(ok)}%" if ok is not None else f"{gap}ok –",
                     style=palette("state-open") if ok is not None and ok < 0.95 else "")
            t.append(f"{gap}p95 {fmt.duration_ms(pulse.p95_ms)}")
            t.append(f"{gap}${fmt.usd_per_hour(pulse.spend_per_hour_nano)}/h")
            if pulse.budget_used is not None:
                hot = pulse.budget_used >= 0.8
                t.append(f"{gap}budget {pulse.budget_used * 100:.0f}%",
                         style=palette("severity-warning") if hot else "")
            if pulse.firing_alerts:
                t.append(f"{gap}▲{pulse.firing_alerts} firing",
                         style=f"bold {palette('severity-critical')}".strip())
            elif pulse.pending_alerts:
                t.append(f"{gap}△{pulse.pending_alerts} pending",
                         style=palette("severity-warning"))
            else:
                t.append(f"{gap}0 firing" if compact else f"{gap}no alerts firing")
        else:
            t.append("  waiting for data…")
        if age_s is not None:
            colour = {"fresh": "", "warning": palette("severity-warning"),
                      "stale": palette("severity-critical")}[level]
            t.append(f"{gap}{fmt.age(age_s)} ago" if compact else
                     f"{gap}updated {fmt.age(age_s)} ago", style=colour)
        if level == "stale":
            t.append("  ", style="")
            t.append(" STALE ", style=f"reverse bold {palette('severity-critical')}".strip())
            if problem:
                t.append(f" {problem}", style=palette("severity-critical"))
        if paused:
            t.append("  ")
            t.append(" PAUSED ", style="reverse")
        if readonly:
            t.append("  ")
            t.append(" READONLY ", style="reverse")
        self.update(t)
