"""The console at 80x24: a deployment's region beside its name (a filter on it shows one
region's), and today's free-tier share in the spend chart's title."""

from __future__ import annotations

from axtui.snapshot.model import FreeTierToday
from axtui.tui.components.deployments import DeploymentsTable
from tests.tui.conftest import frozen_app, screen_text
from tests.tui.snapshots_data import DEPLOYMENTS, frame, make_snapshot, spend

EU = "openai/gpt-4o-mini"


def regional():
    deps = tuple(d.model_copy(update={"region": "eu"}) if d.name == EU else d
                 for d in DEPLOYMENTS)
    free = FreeTierToday(served=200, free=150, share=0.75, avoided_nano=1_000)
    return make_snapshot(deployments=deps,
                         spend=spend().model_copy(update={"free_tier": free}))


async def test_a_deployments_row_names_its_region_at_80x24():
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_frame(frame(regional()))
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        row = table.get_row(EU)
    assert any("@eu" in str(cell) for cell in row)


async def test_filtering_deployments_on_a_region_shows_that_regions_only():
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame(regional()))
        await pilot.pause()
        app.screen._set_match("@eu")
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        shown = [table.coordinate_to_cell_key((i, 0)).row_key.value
                 for i in range(table.row_count)]
    assert shown == [EU]


async def test_the_spend_chart_title_gives_todays_free_tier_share():
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:  # spend is one key away at 80x24
        app.apply_frame(frame(regional()))
        await pilot.pause()
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
    assert "free tiers 75%" in text
