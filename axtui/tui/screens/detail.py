"""The base of the detail screens: enter on a row opens one, esc goes back. Each reads its
data in a worker thread (never on the event loop) and renders it as text."""

from __future__ import annotations

import asyncio
import logging
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from axtui.tui.components.footer import KeysFooter
from axtui.tui.context import ConsoleContext

log = logging.getLogger(__name__)
BARS = "▁▂▃▄▅▆▇█"


def spark(values: list[float | None]) -> str:
    """A text sparkline; gaps (no data) are spaces."""
    seen = [v for v in values if v is not None]
    top = max(seen, default=0) or 1
    return "".join(" " if v is None else BARS[min(7, int(v / top * 7.999))] for v in values)


def clock_time(ts: float | None) -> str:
    return "–" if ts is None else time.strftime("%H:%M:%S", time.gmtime(ts))


class DetailScreen(Screen[None]):
    DEFAULT_CSS = """
    DetailScreen > VerticalScroll { padding: 0 1; }
    DetailScreen .title { text-style: bold; background: $panel; width: 100%; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "back", "back", id="detail-back")]

    def __init__(self, name: str, context: ConsoleContext) -> None:
        super().__init__()
        self.subject = name
        self.context = context

    def heading(self) -> str:
        return self.subject

    def compose(self) -> ComposeResult:
        yield Static(self.heading(), classes="title", markup=False)
        with VerticalScroll():
            yield Static("loading…", id="body")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.run_worker(self._load(), exit_on_error=False, group="detail")

    def read(self) -> Text:
        """Blocking: runs in a worker thread."""
        raise NotImplementedError

    async def _load(self) -> None:
        body = self.query_one("#body", Static)
        try:
            text = await asyncio.to_thread(self.read)
        except Exception as e:  # a locked or vanished store: say it, the console lives on
            log.warning("detail %s: %s", self.subject, e)
            body.update(Text(f"cannot read {self.subject}: {type(e).__name__}: {e}",
                             style="bold"))
            return
        body.update(text)

    def action_back(self) -> None:
        self.dismiss(None)
