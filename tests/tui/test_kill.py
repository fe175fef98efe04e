"""The kill switch: K on the focused row opens a dialog naming the target, its state and its
blast radius; Cancel has the focus; a reason is required; the kill goes through the same
operations as the CLI (audited) and a second engine sharing the store stops routing there."""

from __future__ import annotations

import asyncio

from axtui.flags.ops import get_flag
from axtui.tui.context import Target
from axtui.tui.screens.kill import KillScreen, NoKillTarget, plan_kill
from tests.engine.test_control import ask, engine_on

from . import views
from .conftest import HostApp, flag_at


def app_with(context, snapshot, target):
    app = HostApp(context, snapshot=snapshot)
    app.target = target
    return app


SNAP = views.snapshot(
    deployments=[views.deployment("a/cheap", share_of_traffic=0.62, routes=("chat",)),
                 views.deployment("b/mid", state="drained", drained_by="bob",
                                  drained_reason="bad output")],
    flags=[views.flag("to_dear")])


def test_the_plan_names_the_routes_that_lose_it_and_its_share_of_traffic():
    plan = plan_kill(Target("deployment", "a/cheap"), SNAP)
    assert plan.operation == "drain"
    assert "● ok" in plan.state
    assert "routes that lose it: chat" in plan.blast
    assert "62.0% of the last 1 min's attempts" in plan.blast


def test_a_young_stores_window_reads_in_whole_seconds():
    from axtui.tui.screens.kill import _window

    assert [_window(s) for s in (3.16118, 0.2, 60.0, 300.0, 90.0)] == \
        ["3 s", "1 s", "1 min", "5 min", "1.5 min"]


def test_a_drained_deployment_offers_the_undrain():
    plan = plan_kill(Target("deployment", "b/mid"), SNAP)
    assert plan.operation == "undrain" and plan.reversal
    assert "drained by bob" in plan.state


def test_a_flag_plan_names_its_target_and_cohort():
    plan = plan_kill(Target("flag", "to_dear"), SNAP)
    assert plan.operation == "kill"
    assert "route chat → c/dear" in plan.blast and "10%" in plan.blast


def test_an_alert_is_not_a_kill_target():
    try:
        plan_kill(Target("alert", "x"), SNAP)
    except NoKillTarget as e:
        assert "deployment or a flag" in str(e)
    else:
        raise AssertionError("an alert was accepted as a kill target")


async def test_K_then_enter_cancels_because_cancel_has_the_focus(store, context):
    async with app_with(context, SNAP, Target("deployment", "a/cheap")).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        assert isinstance(pilot.app.screen, KillScreen)
        assert pilot.app.focused.id == "cancel"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, KillScreen)
    assert store.get_control("drain:a/cheap") is None


async def test_typing_with_cancel_focused_starts_the_reason_and_nothing_is_lost(store, context):
    async with app_with(context, SNAP, Target("deployment", "a/cheap")).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        await pilot.press(*"bad output")
        await pilot.pause()
        screen = pilot.app.screen
        assert screen.query_one("#reason").value == "bad output"
        assert pilot.app.focused.id == "reason"
        assert not screen.query_one("#confirm").disabled
    assert store.get_control("drain:a/cheap") is None  # typing alone never confirms


async def test_the_kill_button_waits_for_a_reason(store, context):
    async with app_with(context, SNAP, Target("deployment", "a/cheap")).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        assert pilot.app.screen.query_one("#confirm").disabled


async def test_the_whole_kill_flow_drains_and_a_second_engine_stops_routing_there(
        tmp_path, store, context):
    clock, engine, _, sync = engine_on(str(store.url))

    async def routed_to() -> str:  # the engine runs its own (virtual) loop, in a thread
        sync.sync_now()
        done = await asyncio.to_thread(clock.run, engine.complete(ask()))
        return done.record.deployment

    assert await routed_to() == "a/cheap"
    async with app_with(context, SNAP, Target("deployment", "a/cheap")).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        await pilot.click("#reason")
        await pilot.press(*"bad output", "tab", "tab", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(pilot.app.screen, KillScreen)
    drained = store.get_control("drain:a/cheap")
    assert drained.value["reason"] == "bad output" and drained.value["by"] == "oncall"
    assert [e.kind for e in store.events(subject="a/cheap")] == ["drain"]
    assert await routed_to() == "b/mid"


async def test_K_on_a_flag_kills_it_through_flags_ops(store, clock, context):
    flag_at(store, clock, 1.0)
    async with app_with(context, SNAP, Target("flag", "to_dear")).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        await pilot.click("#reason")
        await pilot.press(*"latency spike", "tab", "tab", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    state, _ = get_flag(store, "to_dear")
    assert state.killed is not None and state.killed.reason == "latency spike"
    assert store.events(kind="flag", subject="to_dear", limit=1)[0].detail["action"] == "kill"


async def test_undrain_is_behind_a_confirm_and_needs_no_reason(store, context):
    from axtui.engine.control import drain

    drain(store, "b/mid", "bad output", by="bob")
    async with app_with(context, SNAP, Target("deployment", "b/mid")).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        assert pilot.app.screen.title_text == "Undrain deployment b/mid?"
        await pilot.press("tab", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    assert store.get_control("drain:b/mid") is None


async def test_a_readonly_console_refuses_K_with_a_message(store, context):
    context.readonly = True
    async with app_with(context, SNAP, Target("deployment", "a/cheap")).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, KillScreen)
        assert any("read-only console: kill refused" in n.message
                   for n in pilot.app._notifications)


async def test_K_with_nothing_focused_says_what_to_do(store, context):
    async with app_with(context, SNAP, None).run_test() as pilot:
        await pilot.press("K")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, KillScreen)
        assert any("focus a deployment or a flag" in n.message
                   for n in pilot.app._notifications)
