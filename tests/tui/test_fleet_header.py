"""The header of a console attached to a store: how many gateway processes report to it,
and since when, within 80 columns whatever else the pulse shows."""

from __future__ import annotations

import pytest

from axtui.snapshot.model import Fleet
from axtui.tui.app import ConsoleApp
from tests.tui.conftest import screen_text
from tests.tui.snapshots_data import T0, frame, make_snapshot

URL = "postgresql+psycopg://axtui@db.internal:5432/axtui"


def attached() -> ConsoleApp:
    return ConsoleApp(None, mode="ATTACHED", where=URL, live=False, clock=lambda: T0 + 2)


async def header(fleet: Fleet, size: tuple[int, int], **pulse) -> str:
    app = attached()
    snap = make_snapshot(fleet=fleet)
    if pulse:
        snap = snap.model_copy(update={"pulse": snap.pulse.model_copy(update=pulse)})
    async with app.run_test(size=size) as pilot:
        app.apply_frame(frame(snap))
        await pilot.pause()
        return screen_text(app).splitlines()[0]


@pytest.mark.parametrize("firing", [0, 1])
async def test_at_80_columns_the_fleet_and_the_datas_age_both_fit(firing):
    line = await header(Fleet(reporting=4, since=T0 - 3600), (80, 24), firing_alerts=firing)
    assert "4 gw" in line and "19:26" in line  # TZ=UTC: T0 - 1 h
    assert line.rstrip().endswith("2s") or line.rstrip().endswith("2s ago")
    assert "…" not in line and len(line.rstrip()) <= 80


async def test_wide_it_names_the_store_and_says_since_when():
    line = await header(Fleet(reporting=4, since=T0 - 3600), (200, 60))
    assert URL in line and "4 gateways since 19:26" in line


async def test_silent_gateways_are_counted_apart():
    line = await header(Fleet(reporting=3, silent=1, since=T0 - 60), (200, 60))
    assert "3 gateways since 20:25 +1 silent" in line


async def test_no_gateway_reporting_is_said_not_hidden():
    line = await header(Fleet(), (80, 24))
    assert "no gw" in line


async def test_a_console_on_its_own_engine_shows_no_fleet():
    app = ConsoleApp(None, mode="LIVE", where="demo", live=False, clock=lambda: T0 + 2)
    async with app.run_test(size=(200, 60)) as pilot:
        app.apply_frame(frame(make_snapshot(fleet=Fleet(reporting=1, since=T0))))
        await pilot.pause()
        assert "gateway" not in screen_text(app).splitlines()[0]
