"""The rollout slider: arrow keys move a pending value, the guardrails' verdict shows, enter
commits through flags.ops.change (a step too big asks for a reason and is audited forced)."""

from __future__ import annotations

from axtui.flags.ops import get_flag
from axtui.tui.components.slider import RolloutSlider, fine_step
from axtui.tui.screens.reason import ReasonScreen

from .conftest import HostApp, flag_at


def slider_app(context):
    return HostApp(context, lambda: RolloutSlider("to_dear", context, id="slider"))


async def loaded(pilot) -> RolloutSlider:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    slider = pilot.app.query_one(RolloutSlider)
    slider.focus()
    await pilot.pause()
    return slider


def test_fine_steps_reach_half_a_percent_and_the_top():
    assert fine_step(0, 1) == 0.1
    assert fine_step(0.4, 1) == 0.5
    assert fine_step(1.0, 1) == 1.5
    assert fine_step(1.0, -1) == 0.9
    assert fine_step(25, -1) == 20
    assert fine_step(100, 1) == 100
    assert fine_step(0, -1) == 0


async def test_the_slider_shows_the_applied_value_and_the_gates_with_their_numbers(
        store, clock, context):
    flag_at(store, clock, 1.0)
    async with slider_app(context).run_test(size=(100, 20)) as pilot:
        slider = await loaded(pilot)
        text = str(slider.render())
        assert "applied 1%" in text
        assert "step ≤ 5% (×5 from 1%)" in text
        assert "dwell ✓ done" in text and "gates ✓ go" in text
        assert "error_rate" in text and "%" in text


async def test_arrow_keys_move_the_pending_value_and_esc_reverts(store, clock, context):
    flag_at(store, clock, 1.0)
    async with slider_app(context).run_test(size=(100, 20)) as pilot:
        slider = await loaded(pilot)
        await pilot.press("right", "right")
        assert slider.pending == 2.0
        assert "pending ▲ 2%" in str(slider.render())
        await pilot.press("escape")
        assert slider.pending == 1.0


async def test_a_step_within_the_guardrails_commits_through_change(store, clock, context):
    flag_at(store, clock, 1.0)
    async with slider_app(context).run_test(size=(100, 20)) as pilot:
        slider = await loaded(pilot)
        await pilot.press("up")  # the ladder's next step: 5%
        assert slider.pending == 5.0
        assert "✓ within the guardrails" in str(slider.render())
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert get_flag(store, "to_dear")[0].pct == 5.0
        assert "applied 5%" in slider.message
    event = store.events(kind="flag", subject="to_dear", limit=1)[0].detail
    assert event["by"] == "oncall" and event["forced"] is False


async def test_a_step_past_five_times_is_refused_until_a_reason_is_typed(store, clock, context):
    flag_at(store, clock, 1.0)
    async with slider_app(context).run_test(size=(100, 20)) as pilot:
        slider = await loaded(pilot)
        await pilot.press("up", "up")  # 1% -> 25%: more than x5
        assert slider.pending == 25.0
        assert "✗ past a guardrail" in str(slider.render())
        await pilot.press("enter")
        await pilot.pause()
        dialog = pilot.app.screen
        assert isinstance(dialog, ReasonScreen)
        assert "step: 1% -> 25% is too big" in dialog.body
        await pilot.press("enter")  # Cancel has the focus
        await pilot.pause()
        assert get_flag(store, "to_dear")[0].pct == 1.0
        assert "not committed: step" in slider.message
        await pilot.press("enter")
        await pilot.pause()
        await pilot.click("#reason")
        await pilot.press(*"canary is clean", "tab", "tab", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    assert get_flag(store, "to_dear")[0].pct == 25.0
    event = store.events(kind="flag", subject="to_dear", limit=1)[0].detail
    assert event["forced"] is True and event["reason"] == "canary is clean"
    assert [v["rule"] for v in event["overridden"]] == ["step"]


async def test_half_a_percent_is_a_valid_pending_value(store, clock, context):
    flag_at(store, clock, 0.0)
    async with slider_app(context).run_test(size=(100, 20)) as pilot:
        slider = await loaded(pilot)
        assert "applied 0%" in str(slider.render())
        await pilot.press(*["right"] * 5, "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    assert get_flag(store, "to_dear")[0].pct == 0.5


async def test_a_killed_flag_shows_killed_and_refuses_an_increase(store, clock, context):
    from axtui.flags.ops import change

    flag_at(store, clock, 1.0)
    change(store, "to_dear", action="kill", by="bob", reason="latency spike")
    async with slider_app(context).run_test(size=(100, 20)) as pilot:
        slider = await loaded(pilot)
        assert "KILLED" in str(slider.render()) and "latency spike" in str(slider.render())
        await pilot.press("right", "enter")
        await pilot.pause()
        assert "revive it before any increase" in slider.message
    assert get_flag(store, "to_dear")[0].killed is not None


async def test_a_readonly_console_refuses_the_commit(store, clock, context):
    flag_at(store, clock, 1.0)
    context.readonly = True
    async with slider_app(context).run_test(size=(100, 20)) as pilot:
        slider = await loaded(pilot)
        await pilot.press("right", "enter")
        await pilot.pause()
        assert "read-only" in slider.message
    assert get_flag(store, "to_dear")[0].pct == 1.0
