"""Pictures of the dashboard (pytest-textual-snapshot): no producer, a frozen clock and
injected snapshots, so nothing moves between runs. Update with --snapshot-update after
looking at the diff."""

from __future__ import annotations

import pytest

from axtui.records import ErrorKind
from axtui.snapshot.model import Fleet
from axtui.tui.app import ConsoleApp
from tests.store.factory import attempt, record
from tests.tui.conftest import frozen_app
from tests.tui.snapshots_data import T0, frame, make_snapshot

RECORDS = [
    record(started_at=T0 - 3, route="chat"),
    record(started_at=T0 - 2, route="chat-fast", attempts=[
        attempt("groq/llama-3.1-8b-instant", error_kind=ErrorKind.server),
        attempt("openai/gpt-4o-mini")]),
    record(started_at=T0 - 1, route="chat", attempts=[
        attempt("mistral/mistral-small-latest", error_kind=ErrorKind.server)]),
]


def _inject(app):
    async def run_before(pilot) -> None:
        app.apply_frame(frame(records=RECORDS))
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
def test_dashboard(snap_compare, size):
    app = frozen_app()
    assert snap_compare(app, terminal_size=size, run_before=_inject(app))


def test_dashboard_80x24_with_the_live_tail_in_the_lower_pane(snap_compare):
    app = frozen_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_inject(app), press=["5"])


def test_dashboard_stale(snap_compare):
    app = frozen_app()

    async def run_before(pilot) -> None:
        app.apply_frame(frame(records=RECORDS))
        app.feed_failed("OperationalError: database is locked")
        app.clear_notifications()  # toasts time out on their own: keep them out of pictures
        await pilot.pause()
    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


FLEET = Fleet(reporting=4, silent=0, since=T0 - 3600)  # 4 gateways, the newest started 1h ago


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
def test_dashboard_attached_shows_the_fleet_in_the_header(snap_compare, size):
    app = ConsoleApp(None, mode="ATTACHED", where="postgresql+psycopg://axtui@db:5432/axtui",
                     live=False, clock=lambda: T0 + 2)

    async def run_before(pilot) -> None:
        app.apply_frame(frame(make_snapshot(fleet=FLEET), records=RECORDS))
        await pilot.pause()
    assert snap_compare(app, terminal_size=size, run_before=run_before)
