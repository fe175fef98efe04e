"""Pane 5: the newest records as they land, one line each, with a filter."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from axtui.records import NANO_PER_USD, RequestRecord
from axtui.tui import format as fmt

KEEP = 500  # lines kept for a filter change to re-show


def line(r: RequestRecord) -> str:
    """`14:03:22.114 chat → gemini/flash-lite 503 → openai/gpt-4o-mini 200 1.2s $0.0004`."""
    t = time.localtime(r.ended_at)
    stamp = time.strftime("%H:%M:%S", t) + f".{int(r.ended_at * 1000) % 1000:03d}"
    hops = []
    for a in r.attempts:
        what = a.status if a.status is not None else (a.error_kind.value if a.error_kind
                                                      else "ok")
        hops.append(f"{a.deployment} {what}")
    path = " → ".join(hops) or f"refused ({r.error_kind.value if r.error_kind else r.status})"
    tail = f"{fmt.duration_ms(r.latency_ms)} ${r.cost_nano / NANO_PER_USD:.4f}"
    extra = " failover" if len(r.attempts) > 1 and r.ok else ""
    if not r.ok:
        extra += f" {r.outcome.value}"
    return f"{stamp} {r.route} → {path} {tail}{extra}"


class LiveTail(RichLog):
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=KEEP, wrap=False, markup=False, highlight=False,
                         auto_scroll=True, **kwargs)
        self.border_title = "5 Live"
        self.match = ""
        self._lines: deque[tuple[str, bool]] = deque(maxlen=KEEP)
        self.skipped = 0

    def add(self, records: tuple[RequestRecord, ...], skipped: int = 0) -> None:
        new: list[tuple[str, bool]] = []
        if skipped:
            self.skipped += skipped
            new.append((f"… {skipped} records not shown (more than a page arrived)", True))
        new += [(line(r), not r.ok) for r in records]
        self._lines.extend(new)
        self._write(new)

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
        self.clear()
        self._write(list(self._lines))
        self.border_subtitle = f"filter: {match}" if match else ""
