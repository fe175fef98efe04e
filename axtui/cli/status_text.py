"""A Snapshot as plain text: what `axtui monitor status` prints (and what a script or a
pager shows when the console is not an option). Every state has a glyph and a word."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from axtui.alerts.rules import value_text
from axtui.cli.output import table
from axtui.snapshot.model import DEPLOYMENT_GLYPHS, DEPLOYMENT_WORDS, Snapshot
from axtui.units import ms, pct, usd

SEVERITY_WORDS = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}
BAR_CELLS = 5


def age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = max(0.0, seconds)
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.0f}m"
    if s < 172800:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


def bar(fraction: float | None, cells: int = BAR_CELLS) -> str:
    if fraction is None:
        return "–"
    full = round(max(0.0, min(1.0, fraction)) * cells)
    return "▰" * full + "▱" * (cells - full)


def rate(v: float) -> str:
    """Requests per minute: one decimal under 10 so a trickle does not read as zero."""
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:.0f}" if v >= 10 or v == 0 else f"{v:.1f}"


def per_hour(nano: int) -> str:
    return usd(nano, 2)


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def render(snap: Snapshot, *, stale_after_s: float = 10.0) -> str:
    p = snap.pulse
    fire = f"{p.firing_alerts} firing" + (f", {p.pending_alerts} pending"
                                           if p.pending_alerts else "")
    freshness = f"updated {age(p.data_age_s)} ago" if p.data_age_s is not None else "no data yet"
    if p.data_age_s is not None and p.data_age_s > stale_after_s:
        freshness = f"STALE: {freshness}"
    lines = [
        f"axtui  {snap.store_url}  {p.request_rate:.1f} rps  ok {pct(p.success_rate)}  "
        f"p95 {ms(p.p95_ms)}  {per_hour(p.spend_per_hour_nano)}/h  "
        f"budget {pct(p.budget_used) if p.budget_used is not None else '–'}  {fire}  "
        f"{freshness}  at {clock(snap.taken_at)} UTC (last {p.window_s / 60:.0f} min)",
        "",
    ]
    rows = []
    for d in snap.deployments:
        state = f"{DEPLOYMENT_GLYPHS[d.state]} {DEPLOYMENT_WORDS[d.state]}"
        note = ""
        if d.state == "drained":
            note = f'"{d.drained_reason}"' + (f" by {d.drained_by}" if d.drained_by else "")
        elif d.state == "open" and d.open_until:
            note = f"until {clock(d.open_until)}"
        rows.append((state, d.name, rate(d.rpm), pct(d.ok_rate), ms(d.p50_ms), ms(d.p95_ms),
                     bar(d.headroom), "–" if d.in_flight is None else str(d.in_flight),
                     per_hour(d.cost_per_hour_nano), note))
    lines.append(table(rows, ["state", "deployment", "rpm", "ok", "p50", "p95", "room",
                              "in-flight", "$/h", ""], right={2, 3, 4, 5, 7, 8}))
    lines.append("")
    if snap.alerts:
        rows = []
        for a in snap.alerts:
            notes = []
            if a.acked_by:
                notes.append(f"acked by {a.acked_by}")
            if a.silenced_until:
                notes.append(f"silenced until {clock(a.silenced_until)}")
            since = age(snap.taken_at - a.since) if a.since else "–"
            rows.append((SEVERITY_WORDS.get(a.severity, a.severity), a.state, a.name,
                         f"{a.metric} {a.scope}", f"{value_text(a.value, a.metric)} {a.op} {value_text(a.threshold, a.metric)}", since,
                         ", ".join(notes)))
        lines.append(table(rows, ["sev", "state", "alert", "metric", "value", "for", ""]))
    else:
        lines.append("alerts: none defined")
    lines.append("")
    if snap.flags:
        rows = []
        for f in snap.flags:
            nxt = "–"
            if f.status == "killed":
                what = f"KILLED {clock(f.killed_at or 0)} by {f.killed_by}: \"{f.kill_reason}\""
            else:
                if f.next_step is not None:
                    nxt = (f"{f.next_step:g}% (≤ {f.step_limit:g}%)"
                           + (f" in {age(f.dwell_left_s)}" if f.dwell_left_s > 0 else ""))
                first = f.verdict_reason.split("; ")[0]
                what = f"{f.verdict.upper()} {first}".strip() if f.verdict != "none" else "–"
            rows.append((f.name, f.status, f"{f.pct:g}%", nxt, what))
        lines.append(table(rows, ["flag", "state", "pct", "next step", "gates"]))
        lines.append("")
    s = snap.spend
    lines.append(f"spend today {usd(s.today_nano, 2)}"
                 + (f", projected {usd(s.projected_day_nano, 2)} for the day"
                    if s.projected_day_nano is not None else ""))
    if snap.processes:
        lines.append("processes: " + "; ".join(
            f"{p.face} {p.host}:{p.pid}" + (f" STALE {age(p.age_s)}" if p.stale else "")
            + (f" DROPPED {p.records_dropped} records" if p.records_dropped else "")
            + (" POLLING (LISTEN down)" if p.control_sync and p.control_sync.degraded else "")
            for p in snap.processes))
    for e in snap.events[:5]:
        lines.append(f"  {clock(e.ts)} {e.summary}")
    for problem in snap.problems:
        lines.append(f"problem: {problem}")
    return "\n".join(lines)


def wall_now() -> float:
    return time.time()
