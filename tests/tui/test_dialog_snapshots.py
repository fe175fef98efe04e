"""Pictures of every dialog and detail screen, and of the dashboard in each theme, at 80x24
and 200x60: live loop off, frozen clocks (the store's is virtual), injected snapshots."""

from __future__ import annotations

import pytest

from axtui.engine.control import drain
from axtui.records import ErrorKind
from axtui.tui.context import ConsoleContext, Target
from axtui.tui.screens.alert_dialogs import AckScreen, SilenceScreen
from axtui.tui.screens.detail_alert import AlertDetail
from axtui.tui.screens.detail_deployment import DeploymentDetail
from axtui.tui.screens.detail_flag import FlagDetail
from axtui.tui.screens.help import HelpScreen
from axtui.tui.screens.kill import KillScreen, plan_kill
from axtui.tui.screens.rollout import RolloutScreen
from tests.store.factory import attempt, record
from tests.tui.conftest import HostApp, flag_at, frozen_app
from tests.tui.snapshots_data import frame, make_snapshot

SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
THEMES = ["axtui-dark", "axtui-light", "axtui-high-contrast", "axtui-colour-blind"]


def on_dashboard(push):
    """A frozen console showing the hand-made frame, then `push(app)` on top."""
    app = frozen_app()

    async def run_before(pilot) -> None:
        app.apply_frame(frame())
        await pilot.pause()
        push(app)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    return app, run_before


@SIZES
def test_kill_dialog_for_a_deployment(snap_compare, size):
    app, before = on_dashboard(lambda a: a.push_screen(KillScreen(
        plan_kill(Target("deployment", "gemini/gemini-2.0-flash-lite"), a.snapshot),
        a.context)))
    assert snap_compare(app, terminal_size=size, run_before=before)


def test_kill_dialog_for_a_flag(snap_compare):
    app, before = on_dashboard(lambda a: a.push_screen(KillScreen(
        plan_kill(Target("flag", "gemini_streaming"), a.snapshot), a.context)))
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_undrain_dialog(snap_compare):
    app, before = on_dashboard(lambda a: a.push_screen(KillScreen(
        plan_kill(Target("deployment", "mistral/mistral-small-latest"), a.snapshot),
        a.context)))
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


@SIZES
def test_help(snap_compare, size):
    app, before = on_dashboard(lambda a: a.push_screen(HelpScreen()))
    assert snap_compare(app, terminal_size=size, run_before=before)


def test_ack_dialog(snap_compare):
    app, before = on_dashboard(lambda a: a.push_screen(AckScreen(a.snapshot.alerts[0],
                                                                 a.context)))
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_silence_dialog(snap_compare):
    app, before = on_dashboard(lambda a: a.push_screen(SilenceScreen(a.snapshot.alerts[0],
                                                                     a.context)))
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


@SIZES
@pytest.mark.parametrize("theme", THEMES)
def test_dashboard_in_each_theme(snap_compare, size, theme):
    app = frozen_app()

    async def before(pilot) -> None:
        app.apply_frame(frame())
        app.theme = theme
        await pilot.pause()
    assert snap_compare(app, terminal_size=size, run_before=before)


def _store_app(store, screen_for):
    app = HostApp(ConsoleContext.with_store(store, by="oncall"), snapshot=make_snapshot())
    app.install_themes()

    async def before(pilot) -> None:
        app.clear_notifications()
        app.push_screen(screen_for(app))
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    return app, before


@SIZES
def test_rollout_slider_past_a_guardrail(snap_compare, size, store, clock):
    flag_at(store, clock, 1.0)
    app, before = _store_app(store, lambda a: RolloutScreen("to_dear", a.context))
    assert snap_compare(app, terminal_size=size, run_before=before, press=["up", "up"])


def test_rollout_slider_within_the_guardrails(snap_compare, store, clock):
    flag_at(store, clock, 1.0)
    app, before = _store_app(store, lambda a: RolloutScreen("to_dear", a.context))
    assert snap_compare(app, terminal_size=(80, 24), run_before=before, press=["up"])


@SIZES
def test_deployment_detail(snap_compare, size, store, clock):
    now = clock.now()
    store.write_records([
        record(started_at=now - 60 * m - 5, attempts=[attempt(
            "openai/gpt-4o-mini", started_at=now - 60 * m - 5, latency_ms=300 + 20 * m,
            error_kind=ErrorKind.server if m % 7 == 0 else None)])
        for m in range(40)])
    drain(store, "openai/gpt-4o-mini", "bad output", by="bob")
    app, before = _store_app(store, lambda a: DeploymentDetail("openai/gpt-4o-mini",
                                                               a.context))
    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_flag_detail(snap_compare, size, store, clock):
    flag_at(store, clock, 1.0)
    app, before = _store_app(store, lambda a: FlagDetail("to_dear", a.context))
    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_alert_detail(snap_compare, size, store):
    app, before = _store_app(store, lambda a: AlertDetail(a.snapshot.alerts[0], a.context))
    assert snap_compare(app, terminal_size=size, run_before=before)
