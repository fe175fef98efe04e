"""`r` on a flag: its rollout slider in a dialog (esc with nothing pending closes it)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen

from axtui.tui.components.slider import RolloutSlider
from axtui.tui.context import ConsoleContext


class RolloutScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    RolloutScreen { align: center middle; }
    RolloutScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface;
    }
    """
    BINDINGS = [Binding("escape", "close", "close", id="rollout-close")]

    def __init__(self, flag: str, context: ConsoleContext) -> None:
        super().__init__()
        self.flag = flag
        self.context = context

    def compose(self) -> ComposeResult:
        with Vertical():
            yield RolloutSlider(self.flag, self.context, id="slider")

    def on_mount(self) -> None:
        self.query_one(RolloutSlider).focus()

    def action_close(self) -> None:
        self.dismiss(None)
