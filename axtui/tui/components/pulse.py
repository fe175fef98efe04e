"""The header: the mode, the pulse of the traffic, and how fresh it is."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from axtui.snapshot.model import Fleet, Pulse
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


def fleet_words(fleet: Fleet, compact: bool, since: bool = True) -> str:
    """How many gateway processes report to the store, and since when (the newest one's
    start: the fleet has been this size since then)."""
    if fleet.reporting == 0:
        out = "no gw" if compact else "no gateway reporting"
    else:
        noun = "gw" if compact else ("gateway" if fleet.reporting == 1 else "gateways")
        out = f"{fleet.reporting} {noun}"
        if fleet.since is not None:
            at = time.strftime("%H:%M", time.localtime(fleet.since))
            out += f" since {at}" if since else f" {at}"
    if fleet.silent:
        out += f" +{fleet.silent} silent"
    return out


class _Part:
    __slots__ = ("text", "style", "short")

    def __init__(self, text: str, style: str = "", short: str | None = None) -> None:
        self.text = text
        self.style = style
        self.short = short  # what it becomes when the line is too long ("" drops it)


class PulseHeader(Static):
    def show(self, *, mode: str, where: str, pulse: Pulse | None, age_s: float | None,
             level: str, palette: Palette, paused: bool, readonly: bool,
             problem: str | None = None, fleet: Fleet | None = None) -> None:
        width = self.size.width
        compact = 0 < width < COMPACT_BELOW
        gap = " " if compact else "  "
        warn = palette("severity-warning")
        head = [_Part(" axtui ", "bold"), _Part(f" {mode} ", "reverse bold")]
        parts: list[tuple[int, _Part]] = []  # (the order it shortens in, the part)
        if where:
            parts.append((1, _Part(f" {where}", short="")))
        if fleet is not None:
            parts.append((4, _Part(f"{gap}{fleet_words(fleet, compact)}",
                                   warn if fleet.silent or not fleet.reporting else "",
                                   short=f"{gap}{fleet_words(fleet, compact, since=False)}")))
        if pulse is not None:
            rate = pulse.request_rate
            parts.append((0, _Part(f"{gap}{rate:.0f} rps" if rate >= 10 else
                                   f"{gap}{rate:.1f} rps")))
            ok = pulse.success_rate
            parts.append((0, _Part(f"{gap}ok {fmt.percent(ok)}%" if ok is not None else
                                   f"{gap}ok –", palette("state-open")
                                   if ok is not None and ok < 0.95 else "")))
            parts.append((0, _Part(f"{gap}p95 {fmt.duration_ms(pulse.p95_ms)}")))
            parts.append((0, _Part(f"{gap}${fmt.usd_per_hour(pulse.spend_per_hour_nano)}/h")))
            if pulse.budget_used is not None:
                hot = pulse.budget_used >= 0.8
                parts.append((0, _Part(f"{gap}budget {pulse.budget_used * 100:.0f}%",
                                       warn if hot else "")))
            if pulse.firing_alerts:
                parts.append((3, _Part(f"{gap}▲{pulse.firing_alerts} firing",
                                       f"bold {palette('severity-critical')}".strip(),
                                       short=f"{gap}▲{pulse.firing_alerts}")))
            elif pulse.pending_alerts:
                parts.append((3, _Part(f"{gap}△{pulse.pending_alerts} pending", warn,
                                       short=f"{gap}△{pulse.pending_alerts}")))
            else:
                parts.append((3, _Part(f"{gap}0 firing" if compact else
                                       f"{gap}no alerts firing", short="")))
        else:
            parts.append((0, _Part("  waiting for data…")))
        if age_s is not None:
            colour = {"fresh": "", "warning": warn,
                      "stale": palette("severity-critical")}[level]
            parts.append((2, _Part(f"{gap}{fmt.age(age_s)} ago" if compact else
                                   f"{gap}updated {fmt.age(age_s)} ago", colour,
                                   short=f"{gap}{fmt.age(age_s)}")))
        tail: list[_Part] = []
        if level == "stale":
            tail += [_Part("  "), _Part(" STALE ",
                                        f"reverse bold {palette('severity-critical')}".strip())]
            if problem:
                tail.append(_Part(f" {problem}", palette("severity-critical")))
        if paused:
            tail += [_Part("  "), _Part(" PAUSED ", "reverse")]
        if readonly:
            tail += [_Part("  "), _Part(" READONLY ", "reverse")]
        if compact:  # too long for the terminal: shorten the least needed parts first
            for step in (1, 2, 3, 4):
                if sum(len(p.text) for p in (*head, *(q for _, q in parts), *tail)) <= width:
                    break
                for order, part in parts:
                    if order == step and part.short is not None:
                        part.text = part.short
        t = Text(no_wrap=True, overflow="ellipsis")
        for part in (*head, *(q for _, q in parts), *tail):
            if part.text:
                t.append(part.text, style=part.style)
        self.update(t)
