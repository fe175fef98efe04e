"""Pane 2: alerts that fire, wait out `for`, lack data or resolved lately; keyed by name."""

from __future__ import annotations

from rich.text import Text

from axtui.alerts.rules import value_text
from axtui.snapshot.model import AlertView
from axtui.tui import format as fmt
from axtui.tui.components.keyed_table import Column, KeyedTable, Ranked
from axtui.tui.palette import Palette

SEVERITY_WORDS = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}
_STATE_RANK = {"firing": 0, "nodata": 1, "pending": 2, "resolved": 3, "inactive": 4}
_SEV_RANK = {"critical": 0, "warning": 1, "info": 2}
RESOLVED_SHOWN_S = 3600.0  # a resolved alert stays in the pane for an hour


def _value(a: AlertView) -> str:
    """`6.2% > 5.0%`: the value against the threshold."""
    return f"{value_text(a.value, a.metric)} {a.op} {value_text(a.threshold, a.metric)}"


def name_and_scope(name: str, scope: str, width: int) -> str:
    """The alert's name whole (cut at its end only when it alone is too wide), then its scope
    in the room left, cut in the middle: `mistral-breaker mistral/mis…latest`."""
    if len(name) >= width:
        return name if len(name) == width else name[:width - 1] + "…"
    room = width - len(name) - 1
    if not scope or room < 6:  # a scope cut to a few letters says nothing
        return name
    return f"{name} {fmt.middle_cut(scope, room)}"


def _summary(alerts: tuple[AlertView, ...]) -> str:
    """`4 rules · none firing`: alerting is alive even when the pane has nothing to show."""
    if not alerts:
        return "no rule evaluated yet"
    firing = sum(a.state == "firing" for a in alerts)
    pending = sum(a.state == "pending" for a in alerts)
    parts = [f"{len(alerts)} rule{'s' * (len(alerts) != 1)}",
             f"{firing} firing" if firing else "none firing"]
    if pending:
        parts.append(f"{pending} pending")
    return " · ".join(parts)


def _state(a: AlertView, now: float) -> str:
    since = fmt.age(now - a.since) if a.since is not None else fmt.DASH
    if a.state == "inactive":
        return f"inactive {since}" if a.since is not None else "inactive"
    if a.state == "resolved":
        return f"resolved {since} ago"
    word = {"nodata": "NO DATA"}.get(a.state, a.state)
    extra = []
    if a.acked_by:
        extra.append(f"ack {a.acked_by}")
    if a.silenced_until is not None and a.silenced_until > now:
        extra.append(f"silenced {fmt.age(a.silenced_until - now)}")
    return " · ".join([f"{word} {since}", *extra])


class AlertsPane(KeyedTable):
    KIND = "alert"
    SORT_COLUMN = "name"
    COLUMNS = (
        Column("sev", "sev", 4),
        Column("name", "alert", 22),
        Column("value", "value vs threshold", 14),
        Column("state", "state", 16),
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "2 Alerts"
        self.show_header = False

    def show(self, alerts: tuple[AlertView, ...], palette: Palette, now: float, *,
             force: bool = False) -> None:
        self.redraw = lambda: self.show(alerts, palette, now, force=True)
        shown = [a for a in alerts if a.state in ("firing", "pending", "nodata")
                 or (a.state == "resolved" and a.since is not None
                     and now - a.since < RESOLVED_SHOWN_S)]
        if not shown:  # all quiet: the rules, dimmed, so the pane shows alerting is alive
            shown = [a for a in alerts if a.state == "inactive"]
        rows = []
        name_w = self.cut_width("name")
        for a in shown:
            quiet = a.state in ("resolved", "inactive")
            colour = palette.severity("resolved" if quiet else a.severity)
            dim = "dim" if a.state == "inactive" else ""
            rank = (_STATE_RANK.get(a.state, 9), _SEV_RANK.get(a.severity, 9), a.name)
            word = "ok" if quiet else SEVERITY_WORDS.get(a.severity, a.severity)
            rows.append((a.name, {
                "sev": Text(word, style=f"bold {colour} {dim}".strip()),
                "name": Ranked(name_and_scope(a.name, a.scope, name_w), rank, style=dim),
                "value": Text(_value(a), style=dim),
                "state": Text(_state(a, now), style=colour if a.state == "firing" else dim),
            }))
        rows.sort(key=lambda r: r[1]["name"].rank)
        self.border_subtitle = _summary(alerts)
        self.show_rows(rows, force=force)
