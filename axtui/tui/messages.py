"""The console's typed messages: what widgets tell the app, and the app tells screens."""

from __future__ import annotations

from textual.message import Message

from axtui.tui.feed import Frame


class FrameApplied(Message):
    """A new frame is on screen (detail screens refresh from it)."""

    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame


class FeedFailed(Message):
    """A fetch failed: the header goes STALE, the last frame stays (greyed)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class TargetChanged(Message):
    """The row under the cursor changed: what `K`, `a` or enter would act on."""

    def __init__(self, kind: str, name: str | None) -> None:
        super().__init__()
        self.kind = kind  # deployment / flag / alert
        self.name = name


class DetailRequested(Message):
    """Enter on a row: open its drill-down screen."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__()
        self.kind = kind
        self.name = name
