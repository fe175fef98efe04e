"""Console pieces under test: a small host App, a store on a virtual clock holding a flag
with real traffic, a Snapshot to inject; and the whole console with the live loop off, a
frozen clock and injected frames."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from textual.app import ComposeResult
from textual.widget import Widget

from axtui.clock import VirtualClock
from axtui.flags.ops import change, get_flag
from axtui.store.db import open_store
from axtui.tui.actions import ConsoleActions
from axtui.tui.app import ConsoleApp
from axtui.tui.context import ConsoleContext
from tests.flags.conftest import definition, traffic
from tests.tui.snapshots_data import T0

HOUR = 3600.0


class HostApp(ConsoleActions):
    """Hosts one widget (or nothing) on the console's actions and bindings, like the App."""

    def __init__(self, context: ConsoleContext, make: Callable[[], Widget] | None = None,
                 snapshot=None) -> None:
        super().__init__()
        self.context = context
        self.make = make
        self.snapshot = snapshot
        self.target = None

    def compose(self) -> ComposeResult:
        if self.make is not None:
            yield self.make()

    def focused_target(self):
        return self.target


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_800_000_000.0)


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(f"sqlite:///{tmp_path}/console.db", clock=clock)
    yield s
    s.close()


@pytest.fixture
def context(store) -> ConsoleContext:
    return ConsoleContext.with_store(store, by="oncall")


def flag_at(store, clock, pct: float, name: str = "to_dear", **kw) -> None:
    """A flag at `pct` with a healthy cohort since its last change and the dwell waited."""
    change(store, name, action="create", definition=definition(pct=min(pct, 1.0), **kw),
           by="alice")
    if pct > 1.0:
        clock.advance(HOUR)
        change(store, name, action="rollout", pct=pct, by="alice", force=True,
               reason="test setup")
    st, _ = get_flag(store, name)
    traffic(store, st, start=clock.now() + 1, users=2000)
    clock.advance(HOUR)



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
