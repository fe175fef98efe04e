"""Console tests: the app with the live loop off, a frozen clock and injected frames."""

from __future__ import annotations

import time

import pytest

from axtui.tui.app import ConsoleApp
from tests.tui.snapshots_data import T0


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Times on screen (a kill's hh:mm, the live tail) read the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def frozen_app(**kwargs) -> ConsoleApp:
    """The console with no producer running: frames are applied by the test."""
    return ConsoleApp(None, mode="LIVE", where="demo", live=False, clock=lambda: T0 + 2,
                      **kwargs)


def screen_text(app) -> str:
    """What the terminal shows, as plain text lines."""
    return "\n".join("".join(seg.text for seg in strip)
                     for strip in app.screen._compositor.render_strips())
