"""The `:` palette's contextual commands (`area: verb target`, `kill NAME`), the ack and
silence dialogs, and the detail screens reading the store in a worker."""

from __future__ import annotations

import pytest

from axtui.tui.commands import ConsoleCommands, console_commands
from axtui.tui.context import Target
from axtui.tui.screens.alert_dialogs import AckScreen, SilenceScreen, parse_duration
from axtui.tui.screens.detail_flag import FlagDetail
from axtui.tui.screens.kill import KillScreen

from . import views
from .conftest import HostApp, flag_at

SNAP = views.snapshot(
    deployments=[views.deployment("a/cheap"),
                 views.deployment("b/mid", state="drained", drained_by="bob",
                                  drained_reason="bad output")],
    flags=[views.flag("to_dear"), views.flag("old_one", status="killed", killed_by="bob",
                                             kill_reason="spike")],
    alerts=[views.alert("error-rate")])


def names(app) -> list[str]:
    return [name for name, _, _ in console_commands(app)]


def test_commands_are_named_area_verb_target_and_follow_the_state(context):
    app = HostApp(context, snapshot=SNAP)
    got = names(app)
    assert "deployment: drain a/cheap" in got and "deployment: undrain b/mid" in got
    assert "flag: kill to_dear" in got and "flag: revive old_one" in got
    assert "flag: rollout to_dear" in got and "deployment: open a/cheap" in got
    assert "alert: ack error-rate" in got and "alert: silence error-rate" in got
    assert all(": " in n for n in got)


async def test_colon_kill_name_opens_the_same_dialog_as_K(context):
    app = HostApp(context, snapshot=SNAP)
    async with app.run_test() as pilot:
        provider = ConsoleCommands(app.screen)
        hits = [h async for h in provider.search("kill a/cheap")]
        assert hits[0].text == "kill a/cheap" and hits[0].score == 1.0
        hits[0].command()
        await pilot.pause()
        assert isinstance(app.screen, KillScreen)
        assert app.screen.plan.name == "a/cheap" and app.screen.plan.operation == "drain"


async def test_the_palette_runs_a_contextual_command(context):
    app = HostApp(context, snapshot=SNAP)
    async with app.run_test() as pilot:
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press(*"flag: kill to_dear")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, KillScreen)
        assert app.screen.plan.name == "to_dear"


def test_a_silence_duration_is_read_or_refused_with_the_form_expected():
    assert parse_duration("2h") == 7200 and parse_duration("30m") == 1800
    with pytest.raises(ValueError, match="not a duration: 'soon'"):
        parse_duration("soon")


async def test_a_focused_alert_opens_ack_with_its_value_and_threshold(context):
    app = HostApp(context, snapshot=SNAP)
    app.target = Target("alert", "error-rate")
    async with app.run_test() as pilot:
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AckScreen)
        assert "6.2% > 5.0%" in app.screen.body and "CRITICAL firing" in app.screen.body
        assert app.focused.id == "cancel"


async def test_silence_needs_a_duration_and_a_reason(context):
    app = HostApp(context, snapshot=SNAP)
    app.target = Target("alert", "error-rate")
    async with app.run_test() as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SilenceScreen)
        await pilot.click("#reason")
        await pilot.press(*"2h", "tab", "tab", "enter")  # a duration, no reason
        await pilot.pause()
        assert isinstance(app.screen, SilenceScreen)
        assert any("needs a reason" in n.message for n in app._notifications)


async def test_an_ack_goes_through_the_alerts_operations(context, store, clock):
    from axtui.alerts.evaluator import AlertEvaluator
    from axtui.alerts.rules import AlertRule
    from axtui.records import ErrorKind
    from tests.store.factory import attempt, record

    # error-rate fires in the store too (only an active alert can be acknowledged)
    store.write_records([record(started_at=clock.now() - 30, attempts=[
        attempt("acme/a", started_at=clock.now() - 30, error_kind=ErrorKind.server)])])
    rule = AlertRule.model_validate({"name": "error-rate", "metric": "error_rate",
                                     "threshold": 0.05, "window": "1m", "for": 0})
    AlertEvaluator(store, [rule], clock).evaluate()
    app = HostApp(context, snapshot=SNAP)
    app.target = Target("alert", "error-rate")
    async with app.run_test() as pilot:
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("tab", "enter")  # from Cancel to Ack
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert any(e.kind == "alert.ack" for e in store.events(subject="error-rate"))


async def test_a_flag_detail_shows_the_report_and_the_audit_history(store, clock, context):
    flag_at(store, clock, 1.0)
    app = HostApp(context, snapshot=SNAP)
    async with app.run_test(size=(120, 50)) as pilot:
        app.open_detail(Target("flag", "to_dear"))
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, FlagDetail)
        text = str(app.screen.query_one("#body").render())
        assert "flag to_dear at 1%: GO" in text
        assert "create" in text and "by alice" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, FlagDetail)


async def test_a_silence_goes_through_the_alerts_operations_with_its_duration(context, store):
    app = HostApp(context, snapshot=SNAP)
    app.target = Target("alert", "error-rate")
    async with app.run_test() as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#reason")
        await pilot.press(*"2h provider incident", "tab", "tab", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, SilenceScreen)
    silences = [e for e in store.events(kind="alert.silence")]
    assert len(silences) == 1
    d = silences[0].detail
    assert d["matchers"] == {"alertname": "error-rate"} and d["reason"] == "provider incident"
    assert d["ends_at"] - d["starts_at"] == 7200
