"""Pane 5: the newest records as they land, one line each, with a filter."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from axtui.tui.tail import TailLine

KEEP = 500  # lines kept for a filter change to re-show


class LiveTail(RichLog):
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=KEEP, wrap=False, markup=False, highlight=False,
                         auto_scroll=True, **kwargs)
        self.border_title = "5 Live"
        self.match = ""
        self._lines: deque[tuple[str, bool]] = deque(maxlen=KEEP)
        self.skipped = 0
        self._behind = False  # lines arrived while hidden, not yet written

    def add(self, lines: tuple[TailLine, ...], skipped: int = 0) -> None:
        new: list[tuple[str, bool]] = []
        if skipped:
            self.skipped += skipped
            new.append((f"… {skipped} records not shown (more than a page arrived)", True))
        new += [(t.text, t.bad) for t in lines]
        self._lines.extend(new)
        if self.size.width:
            self._write(new)
        else:  # hidden (the narrow layout): RichLog would queue every write until shown
            self._behind = True

    def on_resize(self) -> None:
        if self._behind and self.size.width:
            self._refill()

    def _refill(self) -> None:
        """Show what is kept (filtered), once; while hidden it waits for a size."""
        self._behind = not self.size.width
        if self._behind:
            return
        self.clear()
        self._write(list(self._lines))

    def _write(self, lines: list[tuple[str, bool]]) -> None:
        """One write for a frame's lines: RichLog's cost is per write (a few hundred lines a
        frame under load, one write each, held the event loop ~50 ms)."""
        match = self.match.lower()
        shown = [(t, bad) for t, bad in lines if not match or match in t.lower()]
        if not shown:
            return
        text = Text(no_wrap=True)
        for i, (t, bad) in enumerate(shown):
            text.append(t, style="bold" if bad else "")
            if i < len(shown) - 1:
                text.append("\n")
        self.write(text)

    def set_filter(self, match: str) -> None:
        self.match = match
        self._refill()
        self.border_subtitle = f"filter: {match}" if match else ""
