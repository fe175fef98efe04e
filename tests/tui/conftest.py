"""Console pieces under test: a small host App (the dashboard lands from another branch),
a store on a virtual clock holding a flag with real traffic, and a Snapshot to inject."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.app import ComposeResult
from textual.widget import Widget

from axtui.clock import VirtualClock
from axtui.flags.ops import change, get_flag
from axtui.store.db import open_store
from axtui.tui.actions import ConsoleActions
from axtui.tui.context import ConsoleContext
from tests.flags.conftest import definition, traffic

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
