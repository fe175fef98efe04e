"""The dashboard with injected snapshots: rows keyed by deployment, the cursor follows its
row, panes take focus by number, and the layout survives a resize."""

from __future__ import annotations

from axtui.tui.components.alerts import AlertsPane
from axtui.tui.components.deployments import DeploymentsTable
from axtui.tui.components.live_tail import LiveTail
from axtui.tui.components.rollouts import RolloutsPane
from tests.store.factory import attempt, record
from tests.tui.conftest import frozen_app, screen_text
from tests.tui.snapshots_data import T0, deployment, frame, make_snapshot, with_state

MINI = "openai/gpt-4o-mini"


async def test_every_deployment_shows_its_glyph_and_state_word():
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        text = screen_text(app)
    for line in ("○  groq/llama-3.1-8b-instant", "◐  gemini/gemini-2.0-flash-lite",
                 "⊘  mistral/mistral-small-latest", "●  openai/gpt-4o-mini"):
        assert line in text
    assert "OPEN" in text and "half-open" in text and "DRAINED" in text


async def test_each_of_the_seven_states_has_its_glyph_and_word_on_its_row():
    from axtui.snapshot.model import DEPLOYMENT_GLYPHS, DEPLOYMENT_WORDS

    deps = tuple(deployment(f"p{i}/{state}", state) for i, state in enumerate(DEPLOYMENT_GLYPHS))
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame(make_snapshot(deployments=deps)))
        await pilot.pause()
        lines = screen_text(app).splitlines()
    for i, state in enumerate(DEPLOYMENT_GLYPHS):
        row = next(ln for ln in lines if f"p{i}/{state}" in ln)
        assert f"{DEPLOYMENT_GLYPHS[state]}  p{i}/{state}" in row
        assert f" {DEPLOYMENT_WORDS[state]} " in row.split(f"p{i}/{state}", 1)[1], row


async def test_the_worst_state_comes_first():
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        first = table.coordinate_to_cell_key((0, 0)).row_key.value
    assert first == "groq/llama-3.1-8b-instant"  # OPEN


async def test_the_cursor_stays_on_its_deployment_when_a_state_change_resorts_the_rows():
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        table.move_cursor(row=table.get_row_index(MINI))
        await pilot.pause()
        before = table.get_row_index(MINI)
        # its breaker opens: it sorts to the top, and the cursor goes with it
        app.apply_frame(frame(with_state(make_snapshot(), MINI, "open")))
        await pilot.pause()
        assert table.get_row_index(MINI) != before
        assert table.current_key() == MINI
        assert table.cursor_row == table.get_row_index(MINI)
        assert app.screen.target == ("deployment", MINI)


async def test_an_update_changes_cells_in_place_without_re_adding_rows():
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        table.move_cursor(row=3)
        await pilot.pause()
        key_before = table.current_key()
        deps = tuple(deployment(MINI, rpm=777) if d.name == MINI else d
                     for d in make_snapshot().deployments)
        app.apply_frame(frame(make_snapshot(deployments=deps)))
        await pilot.pause()
        assert str(table.get_cell(MINI, "rpm")) == "777"
        assert table.row_count == 8
        assert table.current_key() == key_before


async def test_a_deployment_that_disappears_loses_its_row_and_a_new_one_gets_one():
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        deps = tuple(d for d in make_snapshot().deployments if d.name != MINI) + (
            deployment("cohere/command-r"),)
        app.apply_frame(frame(make_snapshot(deployments=deps)))
        await pilot.pause()
        rows = {k.value for k in app.screen.query_one(DeploymentsTable).rows}
    assert MINI not in rows and "cohere/command-r" in rows


async def test_alerts_show_severity_word_value_against_threshold_and_age():
    app = frozen_app()
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        pane = app.screen.query_one(AlertsPane)
        rows = {k.value for k in pane.rows}
        text = screen_text(app)
    assert rows == {"error-rate", "p95-latency", "budget-80"}  # inactive ones are not listed
    assert "CRIT" in text and "6.2% > 5.0%" in text and "firing 3m" in text
    assert "WARN" in text and "pending 1m" in text
    assert "resolved 12m ago" in text


async def test_an_alerts_name_stays_whole_and_its_scope_takes_the_room_left():
    from tests.tui.snapshots_data import alert

    snap = make_snapshot(alerts=(alert("mistral-breaker", "firing", "critical",
                                       metric="breaker_open", value=1.0, threshold=0.0,
                                       scope="mistral/mistral-small-latest"),))
    app = frozen_app()
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_frame(frame(snap))
        await pilot.pause()
        pane = app.screen.query_one(AlertsPane)
        cell = str(pane.get_cell("mistral-breaker", "name"))
        subtitle = pane.border_subtitle
    assert cell.startswith("mistral-breaker")
    assert subtitle == "1 rule · 1 firing"


def test_a_name_too_wide_for_its_column_is_cut_at_its_end_and_the_scope_in_the_middle():
    from axtui.tui.components.alerts import name_and_scope

    assert name_and_scope("mistral-breaker", "mistral/mistral-small-latest", 20) == \
        "mistral-breaker"  # 4 cells of scope would say nothing
    assert name_and_scope("error-rate", "gemini/gemini-2.0-flash-lite", 24) == \
        "error-rate gemini…h-lite"
    assert name_and_scope("a-very-long-alert-name", "x", 10) == "a-very-lo…"


def test_an_alerts_value_and_threshold_read_in_the_metrics_unit():
    from axtui.tui.components.alerts import _value
    from tests.tui.snapshots_data import alert

    def shown(metric, value, threshold):
        return _value(alert("a", "firing", metric=metric, value=value, threshold=threshold))

    assert shown("error_rate", 0.062, 0.05) == "6.2% > 5.0%"
    assert shown("request_rate", 0.8, 1.0) == "0.8 req/s > 1 req/s"  # requests, not a %
    assert shown("spend_vs_budget", 0.2, 100.0) == "0.2% > 100.0%"
    assert shown("cost_per_hour", 3.5, 2.0) == "$3.50/h > $2.00/h"
    assert shown("p95", 3100.0, 3000.0) == "3.10s > 3.00s"
    assert shown("breaker_open", None, 0.0) == "no data > 0 open breakers"


async def test_when_nothing_fires_the_alerts_pane_lists_the_rules_dimmed_and_counts_them():
    from tests.tui.snapshots_data import alert

    snap = make_snapshot(alerts=(alert("quiet", "inactive", "info"),
                                 alert("mistral-breaker", "inactive", "critical")))
    app = frozen_app()
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_frame(frame(snap))
        await pilot.pause()
        pane = app.screen.query_one(AlertsPane)
        rows = {k.value for k in pane.rows}
        state = pane.get_cell("quiet", "state")
        subtitle = pane.border_subtitle
    assert rows == {"quiet", "mistral-breaker"}
    assert str(state).startswith("inactive") and "dim" in str(state.style)
    assert subtitle == "2 rules · none firing"


async def test_rollouts_show_percentage_next_step_verdict_and_kills():
    app = frozen_app()
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        text = screen_text(app)
        rows = [app.screen.query_one(RolloutsPane).coordinate_to_cell_key((i, 0)).row_key.value
                for i in range(3)]
    assert rows[0] == "force_claude"  # killed first
    assert 'KILLED' in text and 'latency spike' in text
    assert "NO-GO errors 3.1% > 1%" in text
    assert "next ≤ 50% in 42m" in text and "✓err ✓p95" in text


async def test_all_six_gates_of_a_flag_fit_its_row_when_the_pane_is_wide():
    from axtui.snapshot.model import GateCheck
    from tests.tui.snapshots_data import flag

    names = ("samples", "error_rate", "error_rate_vs_baseline", "p95_latency",
             "cost_per_request", "sample_ratio")
    checks = tuple(GateCheck(name=n, ok=False if n == "samples" else None, observed=None,
                             limit=None, detail="") for n in names)
    app = frozen_app()
    async with app.run_test(size=(160, 45)) as pilot:
        app.apply_frame(frame(make_snapshot(flags=(flag("flash_lite_chat", 5, checks=checks),))))
        await pilot.pause()
        text = screen_text(app)
    assert "✗n ?err ?err± ?p95 ?$ ?srm" in text and "next ≤ 50% in 42m" in text


async def test_the_header_shows_the_pulse_and_the_age_of_the_data():
    app = frozen_app()
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_frame(frame(fetched_at=T0 - 3))
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
    for part in ("LIVE", "42 rps", "ok 99.1%", "p95 1.2s", "$0.41/h", "budget 38%",
                 "▲1 firing", "updated 5s ago"):
        assert part in header


async def test_old_data_turns_the_age_to_a_warning_then_a_stale_badge():
    now = [T0]
    app = frozen_app()
    app.clock = lambda: now[0]
    async with app.run_test(size=(160, 40)) as pilot:
        app.apply_frame(frame(fetched_at=T0))
        await pilot.pause()
        assert "STALE" not in screen_text(app).splitlines()[0]
        now[0] = T0 + 20
        app.show_pulse()
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
        assert "STALE" in header and "updated 20s ago" in header
        assert "groq/llama-3.1-8b-instant" in screen_text(app)  # last data stays visible
        assert app.screen.query_one("#panes").has_class("-stale")


async def test_pause_freezes_the_screen_and_says_so():
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.press("p")
        assert app.paused
        assert "PAUSED" in screen_text(app).splitlines()[0]
        await pilot.press("space")
        assert not app.paused
        assert "PAUSED" not in screen_text(app).splitlines()[0]


async def test_keys_one_to_five_focus_the_panes():
    app = frozen_app()
    async with app.run_test(size=(200, 60)) as pilot:
        app.apply_frame(frame())
        for key, pane in zip("12345", ("deployments", "alerts", "rollouts", "spend", "live"),
                             strict=True):
            await pilot.press(key)
            assert app.focused is not None and app.focused.id == pane


async def test_at_80x24_deployments_alerts_and_rollouts_fit_and_4_5_swap_the_lower_pane():
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        text = screen_text(app)
        assert "1 Deployments" in text and "2 Alerts" in text and "3 Rollouts" in text
        assert "openai/gpt-4o-mini" in text and "force_claude" in text
        assert "4 Spend" not in text
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        assert "4 Spend" in text and "3 Rollouts" not in text
        await pilot.press("5")
        await pilot.pause()
        assert "5 Live" in screen_text(app)


async def test_columns_drop_from_the_right_and_names_are_cut_in_the_middle_when_narrow():
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        columns = [c.value for c in table.columns]
        text = screen_text(app)
    assert "trend" not in columns and "ttft" not in columns and "p50" not in columns
    assert {"glyph", "name", "state", "rpm", "ok", "p95", "room", "cost"} <= set(columns)
    assert "anthropic/…iku-latest" in text  # both ends of the name kept


async def test_resizing_to_80x24_and_back_keeps_the_rows_and_the_cursor():
    app = frozen_app()
    async with app.run_test(size=(200, 60)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        table = app.screen.query_one(DeploymentsTable)
        table.move_cursor(row=table.get_row_index(MINI))
        for size in ((80, 24), (200, 60), (60, 20), (200, 60)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert table.current_key() == MINI
            assert table.row_count == 8
        assert "trend" in [c.value for c in table.columns]


async def test_the_live_tail_shows_records_and_filters_them():
    served = record(started_at=T0 - 1, route="chat")
    failover = record(started_at=T0 - 1, route="chat-fast", attempts=[
        attempt("groq/llama-3.1-8b-instant", error_kind=__import__(
            "axtui.records", fromlist=["ErrorKind"]).ErrorKind.server),
        attempt("openai/gpt-4o-mini")])
    app = frozen_app()
    async with app.run_test(size=(200, 60)) as pilot:
        app.apply_frame(frame(records=[served, failover]))
        await pilot.pause()
        tail = app.screen.query_one(LiveTail)
        lines = [str(s.text) for s in tail.lines]
        assert len(lines) == 2
        assert "chat-fast → groq/llama-3.1-8b-instant 503 → openai/gpt-4o-mini 200" in lines[1]
        assert "failover" in lines[1]
        await pilot.press("slash")
        await pilot.press(*"groq")
        await pilot.pause()
        assert [str(s.text) for s in tail.lines] == [lines[1]]
        await pilot.press("escape")
        await pilot.pause()
        assert len(tail.lines) == 2


async def test_a_busy_frame_shows_each_record_on_its_own_line_up_to_the_tails_length():
    from axtui.tui.components.live_tail import KEEP

    records = [record(started_at=T0 - 10 + i / 100, route=f"r{i}") for i in range(KEEP + 100)]
    app = frozen_app()
    async with app.run_test(size=(200, 60)) as pilot:
        app.apply_frame(frame(records=records))
        await pilot.pause()
        lines = [str(s.text) for s in app.screen.query_one(LiveTail).lines]
    assert len(lines) == KEEP
    assert f" r{KEEP + 99} → " in lines[-1] and " r100 → " in lines[0]


async def test_a_hidden_live_tail_keeps_only_its_last_lines_and_shows_them_when_focused():
    from axtui.tui.components.live_tail import KEEP

    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:  # narrow: the lower area holds rollouts
        tail = app.screen.query_one(LiveTail)
        for f in range(40):  # 40 frames of 20 records while nobody looks at the tail
            app.apply_frame(frame(records=[record(started_at=T0 - 50 + f + i / 100,
                                                  route=f"r{f}-{i}") for i in range(20)]))
        await pilot.pause()
        assert not tail.display
        # nothing piles up behind a hidden pane (RichLog queues writes until it has a size)
        assert len(tail._deferred_renders) <= 1 and len(tail.lines) <= KEEP
        await pilot.press("5")
        await pilot.pause()
        lines = [str(s.text) for s in tail.lines]
    assert len(lines) == KEEP
    assert " r39-19 → " in lines[-1] and " r15-0 → " in lines[0]


async def test_the_filter_also_narrows_the_deployments():
    app = frozen_app()
    async with app.run_test(size=(200, 60)) as pilot:
        app.apply_frame(frame())
        await pilot.press("slash", *"gemini")
        await pilot.pause()
        rows = {k.value for k in app.screen.query_one(DeploymentsTable).rows}
    assert rows == {"gemini/gemini-2.0-flash-lite", "gemini/gemini-2.5-flash"}


async def test_readonly_refuses_destructive_actions():
    app = frozen_app(readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        assert app.check_action("kill", ()) is None
        assert app.check_action("pause", ()) is True
        assert "READONLY" in screen_text(app).splitlines()[0]


async def test_the_spend_chart_is_not_plotted_while_hidden():
    from axtui.tui.components.spend import SpendChart

    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:  # spend is one key away at 80x24
        for _ in range(3):
            app.apply_frame(frame())
            await pilot.pause()
        chart = app.screen.query_one(SpendChart)
        assert chart.builds == 0
        await pilot.press("4")
        await pilot.pause()
        assert chart.builds == 1


async def test_the_spend_chart_replots_at_most_once_a_second():
    from axtui.tui.components.spend import SpendChart
    from tests.tui.snapshots_data import spend

    app = frozen_app()
    async with app.run_test(size=(200, 60)) as pilot:
        chart = app.screen.query_one(SpendChart)
        chart.monotonic = lambda: 1000.0  # the second never runs out by itself
        app.apply_frame(frame())
        await pilot.pause()
        assert chart.builds == 1
        for hours in (2, 3, 4, 5):  # new data four times within the second
            app.apply_frame(frame(make_snapshot(spend=spend(hours=hours))))
            await pilot.pause()
        assert chart.builds == 1 and chart._pending  # the newest is plotted when the second is up


async def test_no_color_drops_colour_but_keeps_every_glyph_and_word(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(frame())
        await pilot.pause()
        assert app.no_color
        text = screen_text(app)
        colours = {c.triplet for strip in app.screen._compositor.render_strips()
                   for seg in strip if seg.style is not None
                   for c in (seg.style.color, seg.style.bgcolor)
                   if c is not None and c.triplet is not None}
    assert "○  groq/llama-3.1-8b-instant" in text and "OPEN" in text and "CRIT" in text
    assert colours and all(r == g == b for r, g, b in colours)  # shades of grey only


async def test_w_on_the_spend_chart_asks_the_next_snapshots_for_another_range(tmp_path):
    from axtui.config import load_config
    from axtui.tui.app import ConsoleApp
    from axtui.tui.components.spend import SpendChart
    from axtui.tui.feed import StoreFeed

    feed = StoreFeed(f"sqlite:///{tmp_path / 's.db'}", load_config(None), "ATTACHED")
    app = ConsoleApp(feed, live=False, clock=lambda: T0)
    async with app.run_test(size=(200, 60)) as pilot:
        app.apply_frame(frame())
        await pilot.press("4")
        assert feed.spend_range_s == 3600.0
        await pilot.press("w")
        await pilot.pause()
        assert feed.spend_range_s == 86_400.0
        assert "over 24h" in screen_text(app)
        await pilot.press("w", "w")
        assert feed.spend_range_s == 3600.0
        assert app.screen.query_one(SpendChart).window == 0
