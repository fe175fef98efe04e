"""Every console binding on the real App (live loop off, an injected frame): focus keys,
pause, filter, help, the palette, theme, copy, enter for a detail and esc back, and K on the
row under the cursor."""

from __future__ import annotations

from axtui.tui.app import ConsoleApp
from axtui.tui.components.deployments import DeploymentsTable
from axtui.tui.context import ConsoleContext
from axtui.tui.screens.detail_deployment import DeploymentDetail
from axtui.tui.screens.help import HelpScreen
from axtui.tui.screens.kill import KillScreen

from .snapshots_data import T0, frame


async def started(pilot) -> ConsoleApp:
    app = pilot.app
    app.apply_frame(frame())
    await pilot.pause()
    return app


def console(store=None, **kw) -> ConsoleApp:
    app = ConsoleApp(live=False, clock=lambda: T0, **kw)
    if store is not None:
        app.context = ConsoleContext.with_store(store, by="oncall")
    return app


async def test_K_opens_the_kill_dialog_for_the_row_under_the_cursor():
    async with console().run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        table = app.screen.query_one(DeploymentsTable)
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        name = table.current_key()
        await pilot.press("K")
        await pilot.pause()
        assert isinstance(app.screen, KillScreen)
        assert app.screen.plan.name == name
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_esc_on_the_dashboard_keeps_the_dashboard():
    """esc closes what is on top; pressed again (a reflex) it must not leave a blank screen."""
    async with console().run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        for _ in range(3):
            await pilot.press("escape")
            await pilot.pause()
        assert app.screen is app.dashboard
        assert app.screen.query_one(DeploymentsTable).row_count > 0


async def test_focus_keys_move_between_panes_and_pause_toggles():
    async with console().run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        for key, pane in (("2", "alerts"), ("3", "rollouts"), ("5", "live"), ("4", "spend"),
                          ("1", "deployments")):
            await pilot.press(key)
            await pilot.pause()
            assert app.focused is not None and app.focused.id == pane, key
        await pilot.press("space")
        assert app.paused is True
        await pilot.press("p")
        assert app.paused is False


async def test_help_filter_theme_and_palette_keys_open_what_they_say():
    async with console().run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        theme = app.theme
        await pilot.press("t")
        assert app.theme != theme
        await pilot.press("slash")
        await pilot.pause()
        assert app.focused.id == "filter"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("colon")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"


async def test_enter_on_a_row_opens_its_detail_and_esc_goes_back(store):
    async with console(store).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        app.screen.query_one(DeploymentsTable).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DeploymentDetail)
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_y_copies_the_focused_row_id():
    async with console().run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        table = app.screen.query_one(DeploymentsTable)
        table.focus()
        await pilot.pause()
        await pilot.press("y")
        assert app.clipboard == table.current_key()


async def test_a_readonly_console_refuses_K_with_a_message():
    async with console(readonly=True).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        app.screen.query_one(DeploymentsTable).focus()
        await pilot.press("K")
        await pilot.pause()
        assert not isinstance(app.screen, KillScreen)
        assert any("read-only console: kill refused" in n.message for n in app._notifications)


async def test_resizing_down_to_80x24_and_back_keeps_the_console_alive():
    async with console().run_test(size=(200, 60)) as pilot:
        app = await started(pilot)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press("K")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_r_on_a_flag_opens_its_rollout_slider(store, clock):
    from axtui.tui.components.rollouts import RolloutsPane
    from axtui.tui.screens.rollout import RolloutScreen

    async with console(store).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await pilot.press("3")
        await pilot.pause()
        flag = app.screen.query_one(RolloutsPane).current_key()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RolloutScreen) and app.screen.flag == flag
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_q_quits_a_console_that_serves_nothing():
    async with console().run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert pilot.app._exit  # the app is on its way out


async def test_a_kill_shows_on_the_next_frame_read_from_the_store(tmp_path):
    from axtui.store.db import open_store
    from axtui.tui.feed import attach_feed

    url = f"sqlite:///{tmp_path}/fleet.db"
    open_store(url).close()
    feed = attach_feed(url)
    app = ConsoleApp(feed, live=False, clock=lambda: T0)
    async with app.run_test(size=(120, 40)) as pilot:
        app.request_frame()
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        table.focus()
        await pilot.pause()
        name = table.current_key()
        await pilot.press("K")
        await pilot.pause()
        await pilot.click("#reason")
        await pilot.press(*"bad output", "tab", "tab", "enter")
        await app.workers.wait_for_complete()  # the drain, then the frame it asked for
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.snapshot.deployment(name).state == "drained"
        assert app.snapshot.deployment(name).drained_reason == "bad output"
    feed.close()


async def test_moving_focus_between_panes_keeps_the_keys_bar_as_it_is():
    from textual.widgets._footer import FooterKey

    async with console().run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        before = list(app.screen.query(FooterKey))
        for key in ("2", "3", "1"):
            await pilot.press(key)
            await pilot.pause()
        after = list(app.screen.query(FooterKey))
        assert before and after == before  # the same key widgets: no rebuild per focus change
        assert "kill" in [k.description for k in after]


async def test_q_on_a_console_serving_traffic_asks_first_and_the_second_q_quits():
    async with console(serving=True).run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not pilot.app._exit
        assert any("serving traffic" in str(n.message) for n in pilot.app._notifications)
        await pilot.press("q")
        await pilot.pause()
        assert pilot.app._exit


async def test_ctrl_q_on_a_console_serving_traffic_asks_first_too():
    async with console(serving=True).run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not pilot.app._exit
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert pilot.app._exit
