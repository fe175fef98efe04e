"""Pane 1: every deployment, one row each, keyed by name; the worst state first."""

from __future__ import annotations

from rich.text import Text

from axtui.snapshot.model import DEPLOYMENT_GLYPHS, DEPLOYMENT_WORDS, DeploymentView
from axtui.tui import format as fmt
from axtui.tui.components.keyed_table import Column, KeyedTable, Ranked
from axtui.tui.palette import Palette

# the order an incident reads in: what is broken, then what an operator took out, then the rest
SEVERITY = {"open": 0, "half_open": 1, "degraded": 2, "limited": 3, "drained": 4, "ok": 5,
            "idle": 6}


class DeploymentsTable(KeyedTable):
    KIND = "deployment"
    SORT_COLUMN = "name"
    COLUMNS = (
        Column("glyph", "", 1),
        Column("name", "deployment", 24),
        Column("state", "state", 9),
        Column("rpm", "rpm", 5, right=True),
        Column("ok", "ok%", 5, right=True),
        Column("p50", "p50", 6, right=True, drop=1),
        Column("p95", "p95", 6, right=True),
        Column("ttft", "ttft", 6, right=True, drop=2),
        Column("room", "room", 8),
        Column("cost", "$/h", 6, right=True),
        Column("trend", "rpm trend", 10, drop=3),
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "1 Deployments"

    def show(self, deployments: tuple[DeploymentView, ...], palette: Palette, *,
             match: str = "", force: bool = False) -> None:
        self.redraw = lambda: self.show(deployments, palette, match=match, force=True)
        rows = [(d.name, self._row(d, palette)) for d in deployments
                if not match or match.lower() in _label(d).lower()]
        rows.sort(key=lambda r: r[1]["name"].rank)
        self.show_rows(rows, force=force)

    def _row(self, d: DeploymentView, palette: Palette) -> dict[str, object]:
        colour = palette.state(d.state)
        name_w = self.cut_width("name")
        dead = d.attempts == 0
        if d.state == "drained":
            reason = d.drained_reason or "drained"  # the why, where the headroom would be
            room = Text(reason if len(reason) <= 8 else reason[:7] + "…", style=palette("muted"))
        else:
            room = Text(fmt.headroom_bar(d.headroom))
        return {
            "glyph": Text(DEPLOYMENT_GLYPHS.get(d.state, "?"), style=colour),
            "name": Ranked(_named(d, name_w), (SEVERITY.get(d.state, 9), d.name)),
            "state": Text(DEPLOYMENT_WORDS.get(d.state, d.state), style=colour),
            "rpm": Text(fmt.count(d.rpm), justify="right"),
            "ok": Text(fmt.percent(None if dead else d.ok_rate), justify="right"),
            "p50": Text(fmt.duration_ms(None if dead else d.p50_ms), justify="right"),
            "p95": Text(fmt.duration_ms(None if dead else d.p95_ms), justify="right"),
            "ttft": Text(fmt.duration_ms(None if dead else d.ttft_ms), justify="right"),
            "room": room,
            "cost": Text(fmt.usd_per_hour(d.cost_per_hour_nano), justify="right"),
            "trend": Text(fmt.sparkline(d.rate_series, 10)),
        }


def _label(d: DeploymentView) -> str:
    """The name, with the region it serves in (a filter on "@eu" shows a region's)."""
    return f"{d.name} @{d.region}" if d.region else d.name


def _named(d: DeploymentView, width: int) -> str:
    if not d.region:
        return fmt.middle_cut(d.name, width)
    tail = f" @{d.region}"
    return fmt.middle_cut(d.name, max(width - len(tail), 4)) + tail
