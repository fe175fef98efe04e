"""Pane 3: every flag's rollout, keyed by name: a bar, the applied percentage, how far the
guardrails allow next and each gate's verdict. `r` on a row opens the flag's slider
(components/slider.py) to change it."""

from __future__ import annotations

from rich.text import Text

from axtui.snapshot.model import FlagView
from axtui.tui import format as fmt
from axtui.tui.components.keyed_table import Column, KeyedTable, Ranked
from axtui.tui.palette import Palette

_STATUS_RANK = {"killed": 0, "on": 1, "disabled": 2, "off": 3}


def _when(ts: float | None) -> str:
    import time

    return time.strftime("%H:%M", time.localtime(ts)) if ts is not None else ""


def _next(f: FlagView) -> str:
    if f.status == "killed":
        return f"KILLED {_when(f.killed_at)} by {f.killed_by or '?'}"
    if f.status == "disabled":
        return "DISABLED"
    if f.verdict == "no-go":
        return f"NO-GO {f.verdict_reason}"
    if f.next_step is None:
        return "at the last step"
    if f.dwell_left_s > 0:
        return f"next ≤ {f.step_limit:g}% in {fmt.age(f.dwell_left_s)}"
    return f"next ≤ {f.step_limit:g}% now"


# each gate (flags/gates.py) in a few cells, so all six fit the column: `✓n ✗err ?p95 ✓$`
GATE_LABELS = {"samples": "n", "error_rate": "err", "error_rate_vs_baseline": "err±",
               "p95_latency": "p95", "cost_per_request": "$", "sample_ratio": "srm",
               "rating": "rt"}  # rating: listed once a caller rated either side


def _gates(f: FlagView) -> str:
    if f.status == "killed":  # the why of a kill, where the gates would be
        return f'"{f.kill_reason}"' if f.kill_reason else ""
    marks = {True: "✓", False: "✗", None: "?"}
    return " ".join(f"{marks[c.ok]}{GATE_LABELS.get(c.name, c.name[:4])}"
                    for c in f.checks) or f.verdict


class RolloutsPane(KeyedTable):
    KIND = "flag"
    SORT_COLUMN = "name"
    FLEX = "next"
    COLUMNS = (
        Column("name", "flag", 18),
        Column("bar", "", 12),
        Column("pct", "%", 5, right=True),
        Column("next", "next", 20),
        Column("gates", "gates", 26, drop=1),
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "3 Rollouts"
        self.show_header = False

    def show(self, flags: tuple[FlagView, ...], palette: Palette, *, force: bool = False
             ) -> None:
        self.redraw = lambda: self.show(flags, palette, force=True)
        rows = []
        name_w = self.cut_width("name")
        next_w = self.cut_width("next")
        for f in flags:
            bad = f.status == "killed" or f.verdict == "no-go"
            colour = palette("state-open") if bad else ""
            rows.append((f.name, {
                "name": Ranked(fmt.middle_cut(f.name, name_w),
                               (_STATUS_RANK.get(f.status, 9), f.name)),
                "bar": Text(fmt.fill_bar(f.effective_pct, 10)),
                "pct": Text(f"{f.effective_pct:g}%", justify="right"),
                "next": Text(fmt.middle_cut(_next(f), next_w), style=colour),
                "gates": Text(_gates(f)),
            }))
        rows.sort(key=lambda r: r[1]["name"].rank)
        self.show_rows(rows, force=force)
