"""The dashboard: the pulse on top, five panes, the keys at the bottom.

Wide terminals show every pane; below 140x36 the lower area holds alerts and rollouts (2, 3),
or spend (4) or the live tail (5) in their place, so deployments, alerts and rollouts fit
80x24 and spend and the live tail are one key away.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Input

from axtui.tui.components.alerts import AlertsPane
from axtui.tui.components.deployments import DeploymentsTable
from axtui.tui.components.footer import KeysFooter
from axtui.tui.components.live_tail import LiveTail
from axtui.tui.components.pulse import PulseHeader
from axtui.tui.components.rollouts import RolloutsPane
from axtui.tui.components.spend import SpendChart
from axtui.tui.feed import Frame
from axtui.tui.messages import TargetChanged
from axtui.tui.palette import Palette

PANES = ("deployments", "alerts", "rollouts", "spend", "live")
LOWER = ("rollouts", "spend", "live")  # what the lower area can hold when narrow
NARROW_WIDTH = 140
NARROW_HEIGHT = 36


class DashboardScreen(Screen):
    # 1-5 and / are the App's bindings (tui/keys.py: ids, remapping) calling screen.*

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self.lower = "rollouts"
        self.target: tuple[str, str | None] = ("deployment", None)
        self.match = ""
        self._frame: Frame | None = None

    def compose(self) -> ComposeResult:
        yield PulseHeader(id="pulse")
        with Container(id="panes"):
            yield DeploymentsTable(id="deployments", classes="pane")
            yield AlertsPane(id="alerts", classes="pane")
            yield RolloutsPane(id="rollouts", classes="pane")
            yield SpendChart(id="spend", classes="pane")
            yield LiveTail(id="live", classes="pane")
        yield Input(id="filter", placeholder="filter deployments and the live tail "
                                             "(enter keeps it, esc clears)")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._layout(self.size.width, self.size.height)
        self.query_one(DeploymentsTable).focus()

    def on_resize(self, event) -> None:
        self._layout(event.size.width, event.size.height)

    def _layout(self, width: int, height: int) -> None:
        narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        self.set_class(narrow, "-narrow")
        for p in LOWER:
            self.set_class(self.lower == p, f"-lower-{p}")

    # ---------------------------------------------------------------- showing data
    def show_frame(self, frame: Frame, *, now: float, palette: Palette, force: bool = False
                   ) -> None:
        self._frame = frame
        snap = frame.snapshot
        self.query_one(DeploymentsTable).show(snap.deployments, palette, match=self.match,
                                              force=force)
        self.query_one(AlertsPane).show(snap.alerts, palette, now, force=force)
        self.query_one(RolloutsPane).show(snap.flags, palette, force=force)
        self.query_one(SpendChart).show(snap.spend)
        if frame.tail or frame.skipped:
            self.query_one(LiveTail).add(frame.tail, frame.skipped)

    def show_pulse(self, **kwargs) -> None:
        self.query_one(PulseHeader).show(**kwargs)

    def set_stale(self, stale: bool) -> None:
        self.query_one("#panes").set_class(stale, "-stale")

    # ---------------------------------------------------------------- keys
    def action_focus_pane(self, pane: str) -> None:
        if pane in LOWER or pane == "alerts":  # alerts share the narrow lower area
            self.lower = pane if pane in LOWER else "rollouts"
            self._layout(self.size.width, self.size.height)
        widget = self.query_one(f"#{pane}")
        self.set_focus(widget)  # at once: `1K` typed together must kill in pane 1
        if self.focused is not widget:
            widget.focus()  # shown by this very switch: focused once laid out
        if pane == "live":  # lines written while it was hidden: show the newest
            self.call_after_refresh(widget.scroll_end, animate=False)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-open")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._set_match(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.remove_class("-open")
            self.query_one(DeploymentsTable).focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-open") or self.match:
            box.value = ""
            box.remove_class("-open")
            self._set_match("")
            self.query_one(DeploymentsTable).focus()

    def _set_match(self, match: str) -> None:
        self.match = match
        self.query_one(LiveTail).set_filter(match)
        table = self.query_one(DeploymentsTable)
        if self._frame is not None and table.redraw is not None:
            table.show(self._frame.snapshot.deployments, self.app.palette, match=match)

    def on_target_changed(self, event: TargetChanged) -> None:
        self.target = (event.kind, event.name)
