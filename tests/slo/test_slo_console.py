"""The console's SLOs screen: `o` opens it over the store, it shows each route's budget
left and what burns it, readable at 80x24; esc goes back."""

from __future__ import annotations

from types import SimpleNamespace

from axtui.alerts.evaluator import AlertEvaluator
from axtui.tui.context import ConsoleContext
from axtui.tui.screens.detail_slo import SloScreen, budget_bar
from tests.store.factory import T0
from tests.tui.conftest import HostApp
from tests.tui.views import snapshot

from .conftest import requests
from .test_slo_config_and_alerts import demo


def test_the_budget_bar_fills_with_the_budget_left():
    assert budget_bar(1.0) == "█" * 20 and budget_bar(0.25) == "█" * 5 + "░" * 15
    assert budget_bar(-3.0) == "░" * 20 and budget_bar(None) == "·" * 20


async def _open(app, pilot) -> str:
    await pilot.press("o")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, SloScreen)
    return str(app.screen.query_one("#body").render())


async def test_o_shows_budget_left_and_what_burns_it_at_80x24(store, clock):
    store.write_records(requests(T0, 200, failed=28, no_candidates=2))
    clock.set(T0 + 240)
    config = demo(availability=99.0)
    AlertEvaluator.from_config(store, config, clock).evaluate()
    app = HostApp(ConsoleContext.with_store(store), snapshot=snapshot().model_copy(
        update={"taken_at": clock.now()}))
    app.feed = SimpleNamespace(config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await _open(app, pilot)
        lines = text.splitlines()
        assert all(len(line) <= 78 for line in lines)
        chat = lines.index("chat  over 28d   PAGING")  # 30 bad of 200: 30x at 99.5%
        assert "availability" in lines[chat + 1] and "-2900.0% left" in lines[chat + 1]
        assert "burning it (1h): server 28, no_candidates 2" in text
        assert "page-fast firing" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SloScreen)


async def test_without_slos_the_screen_says_how_to_add_one(store):
    app = HostApp(ConsoleContext.with_store(store), snapshot=snapshot())
    async with app.run_test(size=(80, 24)) as pilot:
        assert "no route has an SLO: add [routes.NAME.slo]" in await _open(app, pilot)
