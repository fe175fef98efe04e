"""The Snapshot: one consistent, immutable view built from the store."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from axtui.cli.status_text import render
from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.engine.control import drain
from axtui.flags.ops import change
from axtui.flags.ops import seed as seed_flags
from axtui.records import ErrorKind
from axtui.snapshot.build import SnapshotBuilder, build_snapshot
from axtui.snapshot.events import BreakerEvent, BudgetThresholdEvent, DrainEvent, FlagEvent
from axtui.store import open_store
from axtui.store.tables import RequestRow
from tests.store.factory import T0, attempt, record

NOW = T0 + 600


@pytest.fixture
def cfg():
    return load_config(None)


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'axtui.db'}", clock=VirtualClock(start=NOW - 60))
    yield s
    s.close()


def _traffic(store, *, minutes=5, per_minute=20, failing="gemini/gemini-2.0-flash-lite"):
    recs = []
    for m in range(minutes):
        for i in range(per_minute):
            t = NOW - minutes * 60 + m * 60 + i
            recs.append(record(started_at=t, attempts=[
                attempt("openai/gpt-4o-mini", started_at=t, latency_ms=400 + i)]))
            recs.append(record(started_at=t, route="chat-fast", attempts=[
                attempt(failing, started_at=t, error_kind=ErrorKind.server),
                attempt("groq/llama-3.1-8b-instant", started_at=t, latency_ms=150)]))
    store.write_records(recs)


def test_pulse_counts_the_window_requests_and_their_success(store, cfg):
    _traffic(store)
    snap = build_snapshot(store, cfg, NOW)
    assert snap.pulse.requests == 200
    assert snap.pulse.request_rate == pytest.approx(200 / 300)
    assert snap.pulse.success_rate == 1.0
    assert snap.pulse.p95_ms is not None and snap.pulse.p95_ms > 400


def test_a_deployment_failing_every_attempt_is_degraded_with_its_errors(store, cfg):
    _traffic(store)
    d = build_snapshot(store, cfg, NOW).deployment("gemini/gemini-2.0-flash-lite")
    assert d.state == "degraded" and d.ok_rate == 0.0
    assert [(e.kind, e.n) for e in d.errors] == [("server", 100)]
    assert d.routes == ("chat-fast",) or "chat-fast" in d.routes


def test_a_drained_deployment_shows_drained_with_who_and_why(store, cfg):
    _traffic(store)
    drain(store, "openai/gpt-4o-mini", "bad output", "oncall")
    d = build_snapshot(store, cfg, NOW).deployment("openai/gpt-4o-mini")
    assert (d.state, d.drained_reason, d.drained_by) == ("drained", "bad output", "oncall")


def test_an_idle_deployment_says_idle_not_ok(store, cfg):
    _traffic(store)
    assert build_snapshot(store, cfg, NOW).deployment("mistral/mistral-small-latest").state == "idle"


def test_share_of_traffic_splits_the_window_attempts(store, cfg):
    _traffic(store)
    snap = build_snapshot(store, cfg, NOW)
    assert snap.deployment("openai/gpt-4o-mini").share_of_traffic == pytest.approx(1 / 3)
    assert sum(d.share_of_traffic for d in snap.deployments) == pytest.approx(1.0)


def test_a_breaker_opened_by_an_engine_shows_open_until_its_time_runs_out(store, cfg):
    store.add_event("breaker", "groq/llama-3.1-8b-instant",
                    {"from": "closed", "to": "open", "reason": "5 failures", "until": NOW + 30},
                    ts=NOW - 1)
    d = build_snapshot(store, cfg, NOW).deployment("groq/llama-3.1-8b-instant")
    assert (d.state, d.open_until) == ("open", NOW + 30)
    later = build_snapshot(store, cfg, NOW + 31).deployment("groq/llama-3.1-8b-instant")
    assert later.state == "half_open"


def test_a_killed_flag_shows_killed_with_who_and_why(store, cfg):
    seed_flags(store, cfg, now=NOW - 100)
    change(store, "flash_lite_chat", action="kill", by="oncall", reason="latency spike",
           now=NOW - 10)
    f = build_snapshot(store, cfg, NOW).flag("flash_lite_chat")
    assert (f.status, f.effective_pct, f.killed_by, f.kill_reason) == (
        "killed", 0.0, "oncall", "latency spike")


def test_a_flag_view_says_how_far_the_next_step_may_go_and_when(store, cfg):
    seed_flags(store, cfg, now=NOW - 100)
    f = build_snapshot(store, cfg, NOW).flag("flash_lite_chat")
    g = cfg.flags["flash_lite_chat"].guardrails
    assert f.step_limit == min(100.0, f.pct * g.max_step_factor)
    assert f.dwell_left_s == pytest.approx(max(0.0, g.dwell_s - 100))
    assert f.verdict in ("go", "no-go", "inconclusive")


def test_status_text_gives_each_flag_its_next_step_and_its_gate_verdict(store, cfg):
    seed_flags(store, cfg, now=NOW - 100)
    snap = build_snapshot(store, cfg, NOW)
    f = snap.flag("flash_lite_chat")
    text = render(snap)
    line = next(ln for ln in text.splitlines() if ln.startswith("flash_lite_chat"))
    assert f"{f.next_step:g}% (≤ {f.step_limit:g}%) in " in line
    assert f.verdict.upper() in line
    assert "in-flight" in text  # each deployment's calls in progress (– without a gateway)


def test_the_tail_cursor_is_the_newest_record_and_data_age_follows_it(store, cfg):
    _traffic(store)
    snap = build_snapshot(store, cfg, NOW)
    assert snap.tail_cursor == 200
    assert snap.pulse.data_age_s == pytest.approx(NOW - snap.pulse.last_record_at)


def test_spend_by_provider_adds_up_to_the_window_cost(store, cfg):
    _traffic(store)
    snap = build_snapshot(store, cfg, NOW)
    total = sum(p.nano for s in snap.spend.by_provider for p in s.points)
    assert total == 200 * 5_000
    assert {s.provider for s in snap.spend.by_provider} == {"openai", "groq"}


def test_the_day_projection_is_the_one_costs_projection_gives(store, cfg):
    from axtui.costs.projection import projection

    _traffic(store)
    spend = build_snapshot(store, cfg, NOW).spend
    expected = projection(store, "day", NOW)
    assert spend.today_nano == expected.spent_nano == 200 * 5_000
    assert spend.projected_day_nano == expected.projected_nano > spend.today_nano


def test_events_are_typed_lines_newest_first(store, cfg):
    drain(store, "openai/gpt-4o-mini", "bad output", "oncall")
    store.add_event("breaker", "groq/llama-3.1-8b-instant",
                    {"from": "closed", "to": "open", "reason": "5 failures"}, ts=NOW + 1)
    events = build_snapshot(store, cfg, NOW + 2).events
    assert [e.kind for e in events] == ["breaker", "drain"]
    assert events[1].summary == "openai/gpt-4o-mini drained by oncall: bad output"
    assert events[0].detail == BreakerEvent(from_state="closed", to_state="open",
                                            reason="5 failures")
    assert events[1].detail == DrainEvent(by="oncall", reason="bad output")


def test_alert_flag_and_budget_events_carry_their_typed_detail(store, cfg):
    from axtui.alerts.state import AlertAckEvent

    store.add_event("alert.ack", "error-rate", {"rule": "error-rate", "by": "alice"}, ts=NOW)
    store.add_event("budget_threshold", "global", {"period": "day", "threshold": 80,
                    "spent_nano": 40, "limit_nano": 50}, ts=NOW + 1)
    seed_flags(store, cfg, now=NOW - 100)
    change(store, "flash_lite_chat", action="kill", by="bob", reason="x", now=NOW + 2)
    flag, budget, ack = build_snapshot(store, cfg, NOW + 3).events[:3]
    assert isinstance(flag.detail, FlagEvent)
    assert (flag.detail.action, flag.detail.by, flag.detail.reason) == ("kill", "bob", "x")
    assert budget.detail == BudgetThresholdEvent(period="day", threshold=80, spent_nano=40,
                                                 limit_nano=50)
    assert ack.detail == AlertAckEvent(rule="error-rate", by="alice")


def test_an_event_whose_detail_does_not_parse_is_shown_untyped_and_counted(store, cfg):
    store.add_event("breaker", "groq/llama-3.1-8b-instant", {"to": "open"}, ts=NOW)
    snap = build_snapshot(store, cfg, NOW + 1)
    assert snap.events[0].detail is None and snap.events[0].kind == "breaker"
    assert any("unreadable" in p and "breaker" in p for p in snap.problems)


def test_a_snapshot_cannot_be_changed(store, cfg):
    snap = build_snapshot(store, cfg, NOW)
    with pytest.raises(ValidationError):
        snap.pulse.requests = 5  # type: ignore[misc]
    assert isinstance(snap.deployments, tuple)


def test_a_read_transaction_sees_one_moment_while_another_process_writes(store, tmp_path):
    other = open_store(f"sqlite:///{tmp_path / 'axtui.db'}")
    count = select(func.count()).select_from(RequestRow.__table__)
    try:
        with store.read() as conn:
            before = conn.execute(count).scalar()
            other.write_records([record(started_at=NOW)])
            assert conn.execute(count).scalar() == before
        with store.read() as conn:
            assert conn.execute(count).scalar() == before + 1
    finally:
        other.close()


def test_gate_verdicts_are_reused_until_the_flag_changes(store, cfg, monkeypatch):
    seed_flags(store, cfg, now=NOW - 100)
    builder = SnapshotBuilder(store, cfg)
    calls = []
    import axtui.snapshot.build as build

    real = build.evaluate_gates
    monkeypatch.setattr(build, "evaluate_gates",
                        lambda *a, **k: calls.append(a[1].name) or real(*a, **k))
    builder.build(NOW)
    builder.build(NOW + 1)
    assert sorted(calls) == ["flash_lite_chat", "gemini_streaming"]
    change(store, "flash_lite_chat", action="kill", by="oncall", reason="x", now=NOW + 2)
    builder.build(NOW + 3)
    builder.build(NOW + 3 + builder.gate_ttl_s)
    assert sorted(calls) == ["flash_lite_chat", "gemini_streaming", "gemini_streaming"]


def test_status_text_names_every_deployment_with_a_glyph_and_a_word(store, cfg):
    _traffic(store)
    drain(store, "openai/gpt-4o-mini", "bad output", "oncall")
    lines = {line.split()[2]: line for line in render(build_snapshot(store, cfg, NOW))
             .splitlines() if line and line[0] in "⊘◒·●○◐"}
    assert lines["openai/gpt-4o-mini"].startswith("⊘ DRAINED")
    assert lines["openai/gpt-4o-mini"].endswith('"bad output" by oncall')
    assert lines["gemini/gemini-2.0-flash-lite"].startswith("◒ degraded")
    assert lines["mistral/mistral-small-latest"].startswith("· idle")


def _heartbeat(store, pid, deployments, *, age_s=0.0, dropped=0, unservable=None,
               face="serve", started_ago=60.0):
    import time

    from axtui.store.process_status import (
        DeploymentLive,
        LiveState,
        RecorderLive,
        write_process_status,
    )

    now = time.time()
    live = LiveState(in_flight=sum(d.get("in_flight", 0) for d in deployments),
                     deployments=tuple(DeploymentLive(**{"headroom": 1.0, **d})
                                       for d in deployments),
                     recorder=RecorderLive(written=10, dropped=dropped, queued=0),
                     unservable=unservable or {})
    with store.begin() as conn:
        write_process_status(conn, process_id=f"p{pid}", face=face, host="h", pid=pid,
                             started_at=now - started_ago, updated_at=now - age_s, live=live)


def test_live_engine_state_merges_every_gateway_worst_breaker_least_headroom(store, cfg):
    dep = "groq/llama-3.1-8b-instant"
    _heartbeat(store, 1, [{"deployment": dep, "breaker": "closed", "headroom": 0.8,
                           "in_flight": 2}])
    _heartbeat(store, 2, [{"deployment": dep, "breaker": "open", "open_until": NOW + 9,
                           "headroom": 0.3, "in_flight": 1}])
    snap = build_snapshot(store, cfg, NOW)
    d = snap.deployment(dep)
    assert (d.state, d.breaker, d.headroom, d.in_flight) == ("open", "open", 0.3, 3)
    assert sorted(p.pid for p in snap.processes) == [1, 2]


def test_a_silent_gateway_is_listed_stale_and_its_state_ignored(store, cfg):
    dep = "groq/llama-3.1-8b-instant"
    _heartbeat(store, 1, [{"deployment": dep, "breaker": "open", "headroom": 0.1}], age_s=60)
    snap = build_snapshot(store, cfg, NOW)
    assert snap.processes[0].stale
    assert snap.deployment(dep).breaker is None and snap.deployment(dep).headroom is None


def test_the_fleet_counts_reporting_gateways_since_the_newest_started(store, cfg):
    import time

    _heartbeat(store, 1, [], started_ago=600)
    _heartbeat(store, 2, [], started_ago=30)  # a worker restarted 30 s ago
    _heartbeat(store, 3, [], started_ago=900, age_s=60)  # silent: not counted as reporting
    _heartbeat(store, 4, [], face="console")  # not a gateway
    fleet = build_snapshot(store, cfg, NOW).fleet
    assert (fleet.reporting, fleet.silent) == (2, 1)
    assert fleet.since == pytest.approx(time.time() - 30, abs=5)


def test_records_a_gateway_dropped_are_in_the_snapshot(store, cfg):
    _heartbeat(store, 1, [], dropped=7)
    assert build_snapshot(store, cfg, NOW).processes[0].records_dropped == 7


def test_a_route_a_live_gateway_cannot_serve_is_a_problem_line(store, cfg):
    why = "every deployment out: 2 breaker open"
    _heartbeat(store, 1, [], unservable={"chat": why})
    _heartbeat(store, 2, [], unservable={"cheap": why}, age_s=60)  # stale: not believed
    problems = build_snapshot(store, cfg, NOW).problems
    assert f"route chat can serve nothing (serve p1): {why}" in problems
    assert not any("cheap" in p for p in problems)


@pytest.mark.parametrize("range_s,step_s", [(86400, 900), (7 * 86400, 7200)])
def test_longer_spend_ranges_use_coarser_steps_and_still_add_up(store, cfg, range_s, step_s):
    _traffic(store)
    spend = SnapshotBuilder(store, cfg, spend_range_s=range_s).build(NOW).spend
    assert spend.step_s == step_s
    assert sum(p.nano for s in spend.by_provider for p in s.points) == 200 * 5_000
    assert all(len(s.points) == math.ceil((NOW - spend.since) / step_s)
               for s in spend.by_provider)


def test_a_store_younger_than_the_window_rates_over_its_own_age(store, cfg):
    store.write_records([record(started_at=NOW - 30 + i) for i in range(30)])
    pulse = build_snapshot(store, cfg, NOW).pulse
    assert pulse.window_s == pytest.approx(30)
    assert pulse.request_rate == pytest.approx(1.0)


def test_rates_cover_the_whole_minutes_the_rollups_count(store, cfg):
    store.write_records([record(started_at=NOW - 400 + i) for i in range(395)])
    pulse = build_snapshot(store, cfg, NOW - 5).pulse  # since NOW-305, in minute NOW-360
    assert pulse.window_s == pytest.approx(355) and pulse.requests == 355
    assert pulse.request_rate == pytest.approx(1.0)


def test_a_breaker_opened_by_a_429_cooldown_reads_limited_not_open(store, cfg):
    import time

    dep = "groq/llama-3.1-8b-instant"
    _heartbeat(store, 1, [{"deployment": dep, "breaker": "open", "headroom": 0.0,
                           "cooldown_until": time.time() + 2}])
    d = build_snapshot(store, cfg, NOW).deployment(dep)
    assert (d.state, d.breaker) == ("limited", "open") and d.limited_until is not None


def test_without_a_live_engine_a_rate_limit_opening_reads_limited(store, cfg):
    store.add_event("breaker", "groq/llama-3.1-8b-instant",
                    {"from": "closed", "to": "open", "reason": "rate limited: retry after 2s",
                     "until": NOW + 2}, ts=NOW - 1)
    assert build_snapshot(store, cfg, NOW).deployment("groq/llama-3.1-8b-instant").state == \
        "limited"


def test_ratings_show_per_deployment_over_the_ratings_window(store, cfg):
    recs = [record(started_at=NOW - 120 + i, attempts=[
        attempt("openai/gpt-4o-mini", started_at=NOW - 120 + i)]) for i in range(3)]
    old = record(started_at=NOW - 7200, attempts=[
        attempt("openai/gpt-4o-mini", started_at=NOW - 7200)])
    store.write_records([*recs, old])
    for rec, score in zip(recs, (1.0, 0.5, -0.6), strict=True):
        store.rate(rec, score)
    store.rate(old, -1.0)  # before the hour's window
    dep = build_snapshot(store, cfg, NOW).deployment("openai/gpt-4o-mini")
    assert dep.ratings == 3 and dep.mean_rating == pytest.approx(0.3)
    idle = build_snapshot(store, cfg, NOW).deployment("groq/llama-3.1-8b-instant")
    assert (idle.ratings, idle.mean_rating) == (0, None)


def test_a_flag_view_carries_its_cohort_and_baseline_ratings(store, cfg):
    seed_flags(store, cfg, now=NOW - 100)
    recs = [record(started_at=NOW - 50 + i, user=f"u{i}").model_copy(
        update={"flags": {"flash_lite_chat": "on" if i < 2 else "off"}}) for i in range(5)]
    store.write_records(recs)
    for rec, score in zip(recs, (-1.0, 0.0, 1.0, 1.0, 0.5), strict=True):
        store.rate(rec, score)
    f = build_snapshot(store, cfg, NOW).flag("flash_lite_chat")
    assert (f.cohort_ratings, f.cohort_rating) == (2, -0.5)
    assert (f.baseline_ratings, f.baseline_rating) == (3, pytest.approx(2.5 / 3))


def test_spend_shows_todays_share_of_answers_on_free_tiers_and_what_it_avoided(store, cfg):
    _traffic(store)  # chat-fast is answered by groq's free tier, chat by openai
    free = store.recent_records(limit=1000, route="chat-fast")
    f = build_snapshot(store, cfg, NOW).spend.free_tier
    assert (f.served, f.free, f.share) == (200, 100, 0.5)
    assert f.avoided_nano == sum(r.cost_nano for r in free) > 0


def test_deployments_show_their_region_and_free_tier_from_the_config(store, cfg):
    cfg = cfg.model_copy(update={"deployments": [
        d.model_copy(update={"region": "eu"}) if d.id == "openai/gpt-4o-mini" else d
        for d in cfg.deployments]})
    snap = build_snapshot(store, cfg, NOW)
    assert snap.deployment("openai/gpt-4o-mini").region == "eu"
    groq = snap.deployment("groq/llama-3.1-8b-instant")
    assert (groq.region, groq.free_tier) == (None, True)
