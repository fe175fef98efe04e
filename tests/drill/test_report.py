"""The drill report from collected facts: what it measures and how targets are judged."""

from __future__ import annotations

from axtui.drill.load import LoadPlan, LoadResult, Outcome
from axtui.drill.report import (
    SECTIONS,
    FaultWindow,
    Observed,
    StoredRecord,
    build_report,
    quantile,
    render,
)

PLAN = LoadPlan(rps=10, concurrency=4, stream_share=0.5, duration_s=10)


def _ok(i: int, t: float, ms: float = 50.0, stream: bool = False) -> Outcome:
    return Outcome(i, t, stream, latency_ms=ms, ok=True, status=200, request_id=f"r{i}",
                   finished=True)


def _refused(i: int, t: float, status: int, retry_after: str | None = None,
             message: str | None = "every deployment is cooling down") -> Outcome:
    return Outcome(i, t, False, latency_ms=5.0, ok=False, status=status, request_id=f"r{i}",
                   retry_after=retry_after, error="x", message=message, finished=True)


def _report(outs: list[Outcome], targets: dict, obs: Observed | None = None,
            faults: list[FaultWindow] | None = None) -> dict:
    if obs is None:
        obs = Observed(records={o.request_id: StoredRecord(o.request_id, "ok", 200, 1, 40.0)
                                for o in outs if o.request_id})
    load = LoadResult(PLAN, started_at=0.0, outcomes=outs)
    return build_report(scenario={"name": "t", "path": "t.toml"}, load=load, obs=obs,
                        faults=faults or [], targets=targets)


def _target(rep: dict, name: str) -> dict:
    return next(t for t in rep["targets"] if t["target"] == name)


def test_quantiles_are_nearest_rank():
    values = list(range(1, 101))
    assert quantile(values, 0.5) == 50
    assert quantile(values, 0.99) == 99
    assert quantile([7.0], 0.99) == 7.0
    assert quantile([], 0.5) is None


def test_the_report_names_every_section_and_a_verdict():
    rep = _report([_ok(i, i * 0.1) for i in range(20)], {"min_success": 1.0})
    assert set(SECTIONS) <= set(rep)
    assert rep["verdict"] == "pass"


def test_an_answered_request_without_a_row_is_a_lost_record_and_misses_the_target():
    outs = [_ok(i, i * 0.1) for i in range(5)]
    obs = Observed(records={f"r{i}": StoredRecord(f"r{i}", "ok", 200, 1, 40.0)
                            for i in range(4)})
    rep = _report(outs, {"max_records_lost": 0}, obs)
    assert rep["records"]["lost"] == 1 and rep["records"]["lost_ids"] == ["r4"]
    assert _target(rep, "max_records_lost")["met"] is False
    assert rep["verdict"] == "fail"


def test_success_below_the_target_fails_the_drill():
    outs = [_ok(i, i * 0.1) for i in range(9)] + [_refused(9, 0.9, 503)]
    rep = _report(outs, {"min_success": 0.95})
    assert rep["success"]["ratio"] == 0.9
    assert _target(rep, "min_success") == {"target": "min_success", "want": 0.95,
                                           "measured": 0.9, "met": False}


def test_a_429_without_retry_after_misses_the_refused_status_target():
    outs = [_ok(0, 0.0), _refused(1, 0.1, 429, retry_after="1"), _refused(2, 0.2, 429)]
    rep = _report(outs, {"refused_status": 429})
    t = _target(rep, "refused_status")
    assert t["measured"]["without_retry_after"] == 1 and t["met"] is False


def test_a_refusal_with_another_status_or_no_reason_misses_the_refused_status_target():
    wrong = _report([_refused(0, 0.0, 503)], {"refused_status": 429})
    assert _target(wrong, "refused_status")["measured"]["wrong_status"] == 1
    silent = _report([_refused(0, 0.0, 503, message=None)], {"refused_status": 503})
    assert _target(silent, "refused_status")["measured"]["without_reason"] == 1
    assert _target(silent, "refused_status")["met"] is False
    good = _report([_refused(0, 0.0, 503)], {"refused_status": 503})
    assert _target(good, "refused_status")["met"] is True


def test_p99_overhead_is_the_clients_p99_minus_the_serving_upstreams():
    outs = [_ok(i, i * 0.1, ms=60.0) for i in range(10)]
    rep = _report(outs, {"max_p99_overhead_ms": 5})
    assert rep["latency"]["p99_overhead_ms"] == 20.0  # 60 client, 40 upstream
    assert _target(rep, "max_p99_overhead_ms")["met"] is False


def test_p99_overhead_is_taken_plain_and_streaming_apart_and_the_larger_judged():
    outs = [_ok(i, 0.0, ms=48.0) for i in range(10)] + [
        _ok(i, 0.0, ms=300.0, stream=True) for i in range(10, 20)]
    obs = Observed(records={o.request_id: StoredRecord(o.request_id, "ok", 200, 1,
                                                       297.0 if o.stream else 40.0)
                            for o in outs})
    lat = _report(outs, {}, obs)["latency"]
    assert lat["plain"]["p99_overhead_ms"] == 8.0
    assert lat["stream"]["p99_overhead_ms"] == 3.0
    assert lat["p99_overhead_ms"] == 8.0  # mixed, it would read 300 - 297 = 3


def test_upstream_calls_per_second_sum_the_upstreams_second_by_second():
    obs = Observed(upstream_by_second={"a": {0: 30, 1: 10}, "b": {0: 5, 1: 15}})
    rep = _report([], {"max_upstream_calls_per_s": 20}, obs)
    assert rep["upstream"]["calls"] == 60
    assert rep["upstream"]["peak_calls_per_s"] == 35.0
    assert rep["upstream"]["peak_calls_per_s_by_upstream"] == {"a": 30.0, "b": 15.0}
    assert _target(rep, "max_upstream_calls_per_s")["met"] is False


def test_fault_timing_is_from_the_fault_start_to_the_first_breaker_open_and_alert():
    obs = Observed(breaker_opens=[(1.0, "beta"), (12.5, "alpha")],
                   alert_firings=[(13.0, "drill-breaker[alpha]", "alpha")])
    rep = _report([], {}, obs, faults=[FaultWindow("alpha", "error", 10.0, 40.0)])
    [f] = rep["faults"]
    assert f["breaker_open_after_s"] == 2.5 and f["alert_firing_after_s"] == 3.0
    assert f["alert_rules"] == ["drill-breaker[alpha]"]


def test_a_fault_that_never_opens_a_breaker_says_never():
    rep = _report([], {}, Observed(), faults=[FaultWindow("alpha", "latency", 0.0, 10.0)])
    assert rep["faults"][0]["breaker_open_after_s"] is None
    assert "breaker open after never" in render(rep)


def test_the_timeline_has_one_row_per_5_seconds_with_the_active_faults():
    outs = [_ok(i, i * 0.1, ms=10.0 + i) for i in range(100)]
    rep = _report(outs, {}, faults=[FaultWindow("alpha", "error", 6.0, 8.0)])
    rows = rep["timeline"]
    assert [r["t_s"] for r in rows] == [0.0, 5.0]
    assert [r["requests"] for r in rows] == [50, 50]
    assert rows[0]["faults"] == [] and rows[1]["faults"] == ["alpha:error"]
    assert rows[0]["p50_ms"] == 34.0  # nearest rank: the 25th of 10..59


def test_the_text_report_marks_a_missed_target():
    outs = [_ok(0, 0.0), _refused(1, 0.1, 503)]
    text = render(_report(outs, {"min_success": 1.0}))
    assert "MISS min_success = 1: measured 0.5" in text
    assert text.rstrip().endswith("verdict: fail")


def test_after_a_kill_only_records_are_judged_and_broken_off_answers_are_apart():
    outs = [_ok(0, 0.0), _ok(1, 0.1),
            Outcome(2, 0.2, True, ok=False, status=200, request_id="r2", error="connection"),
            Outcome(3, 0.3, False, ok=False, error="connection")]
    obs = Observed(records={"r0": StoredRecord("r0", "ok", 200, 1, 40.0)}, killed_at_s=0.25)
    rep = _report(outs, {"min_success": 1.0, "max_records_lost": 0}, obs)
    assert rep["records"]["lost"] == 1 and rep["records"]["lost_ids"] == ["r1"]
    assert rep["records"]["broken_off_without_record"] == 1  # r2: the stream broke off
    assert _target(rep, "min_success")["met"] is None
    assert _target(rep, "max_records_lost")["met"] is False
    assert "SIGKILLed 0.25s into the load" in render(rep)


def test_requests_sent_late_past_the_duration_get_rows_of_their_own():
    outs = [_ok(i, i * 0.1) for i in range(100)] + [_ok(100, 11.0), _ok(101, 12.5)]
    rows = _report(outs, {})["timeline"]
    assert [(r["t_s"], r["requests"]) for r in rows] == [(0.0, 50), (5.0, 50), (10.0, 2)]


def test_with_a_baseline_the_overhead_is_against_the_same_load_sent_straight_to_the_sim():
    outs = [_ok(i, 0.0, ms=60.0) for i in range(10)]
    direct = LoadResult(PLAN, 0.0, [_ok(i, 0.0, ms=52.0) for i in range(10)])
    obs = Observed(records={o.request_id: StoredRecord(o.request_id, "ok", 200, 1, 40.0)
                            for o in outs}, baseline=direct)
    rep = _report(outs, {"max_p99_overhead_ms": 10}, obs)
    lat = rep["latency"]
    assert lat["overhead_against"] == "direct"
    assert lat["plain"]["p99_overhead_ms"] == 20.0  # against the record's attempt
    assert lat["plain"]["p99_overhead_vs_direct_ms"] == 8.0
    assert lat["p99_overhead_ms"] == 8.0 and _target(rep, "max_p99_overhead_ms")["met"]
    assert "straight to the sim 52: overhead 8 ms" in render(rep)
