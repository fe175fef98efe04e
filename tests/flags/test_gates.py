"""Metric gates from the store's records: the cohort against the baseline running at the
same time, every number shown, too little data never a pass."""

from __future__ import annotations

from axtui.flags.gates import evaluate_gates, judge, sample_ratio
from axtui.flags.model import FlagState

from .conftest import definition, request, traffic


def state_at(clock, pct: float, **kw) -> FlagState:
    return FlagState.seeded("to_dear", definition(pct=pct, **kw), by="t", now=clock.now())


def verdict(store, clock, st):
    clock.advance(120)
    return evaluate_gates(store, st, clock.now())


def test_a_healthy_cohort_is_a_go_with_its_savings(store, clock):
    st = state_at(clock, 25)
    n_in, n_out = traffic(store, st, start=clock.now(), cohort={"cost_nano": 4_000},
                          baseline={"cost_nano": 5_000})
    r = verdict(store, clock, st)
    assert r.verdict == "go", r.reasons
    assert (r.cohort.requests, r.baseline.requests) == (n_in, n_out)
    assert r.cohort.cost_per_request_nano == 4_000 and r.baseline.cost_per_request_nano == 5_000
    assert r.savings_per_request_nano == 1_000 and r.savings_nano == 1_000 * n_in
    assert r.cohort.p50_ms == r.cohort.p95_ms == 400.0
    assert not r.sample_ratio.mismatch and r.sample_ratio.p_value is not None


def test_too_little_data_is_inconclusive_never_a_pass(store, clock):
    st = state_at(clock, 5, gates={"min_samples": 100})
    traffic(store, st, users=400, start=clock.now())
    r = verdict(store, clock, st)
    assert r.verdict == "inconclusive"
    assert r.reasons[0].startswith("too little data: cohort ")
    assert [c.passed for c in r.checks if c.name == "samples"] == [False]


def test_no_records_at_all_is_inconclusive(store, clock):
    r = verdict(store, clock, state_at(clock, 5))
    assert r.verdict == "inconclusive"
    assert r.cohort.requests == r.baseline.requests == 0


def test_an_error_rate_over_the_absolute_limit_is_a_no_go(store, clock):
    st = state_at(clock, 25, gates={"max_error_rate": 0.05, "max_error_rate_increase": 0.5})
    n_in, _ = traffic(store, st, start=clock.now(), fail_every=10)  # 1 in 10 fails
    r = verdict(store, clock, st)
    assert r.verdict == "no-go"
    assert {c.name for c in r.checks if c.passed is False} == {"error_rate"}
    assert r.cohort.errors == n_in // 10 and r.baseline.errors == 0
    assert r.reasons == [f"error_rate {n_in // 10 / n_in:.2%} > 5.00% (cohort error rate <= 5.00%)"]


def test_an_error_rate_over_the_baseline_plus_delta_is_a_no_go(store, clock):
    st = state_at(clock, 25, gates={"max_error_rate": 0.5, "max_error_rate_increase": 0.01})
    traffic(store, st, start=clock.now(), fail_every=25)  # 4 % vs a clean baseline
    r = verdict(store, clock, st)
    assert {c.name for c in r.checks if c.passed is False} == {"error_rate_vs_baseline"}


def test_a_slower_p95_than_baseline_times_the_ratio_is_a_no_go(store, clock):
    st = state_at(clock, 25)
    traffic(store, st, start=clock.now(), cohort={"latency_ms": 500.0},
            baseline={"latency_ms": 400.0})
    r = verdict(store, clock, st)
    check = next(c for c in r.checks if c.name == "p95_latency")
    assert (check.passed, check.observed, check.limit) == (False, 500.0, 480.0)
    assert r.verdict == "no-go"


def test_a_p95_within_the_ratio_passes(store, clock):
    st = state_at(clock, 25)
    traffic(store, st, start=clock.now(), cohort={"latency_ms": 470.0},
            baseline={"latency_ms": 400.0})
    assert verdict(store, clock, st).verdict == "go"


def test_a_dearer_cohort_is_a_no_go(store, clock):
    st = state_at(clock, 25)
    traffic(store, st, start=clock.now(), cohort={"cost_nano": 5_001},
            baseline={"cost_nano": 5_000})
    r = verdict(store, clock, st)
    assert [c.name for c in r.checks if c.passed is False] == ["cost_per_request"]
    assert r.savings_per_request_nano == -1


def test_records_before_the_last_change_do_not_count(store, clock):
    st = state_at(clock, 25)
    traffic(store, st, start=clock.now() - 600, cohort={"latency_ms": 5_000.0}, prefix="old")
    traffic(store, st, start=clock.now(), prefix="new")
    assert verdict(store, clock, st).verdict == "go"


def test_env_overridden_and_caller_refused_requests_are_neither_side(clock):
    st = state_at(clock, 25)
    at = clock.now() + 1
    recs = [request(user="a", variant="on(env)", flag="to_dear", at=at),
            request(user="b", variant="off(env)", flag="to_dear", at=at),
            request(user="c", variant="on", flag="to_dear", at=at),
            request(user="d", variant=None, flag="to_dear", at=at)]
    r = judge(st, recs, clock.now(), clock.now() + 60)
    assert (r.cohort.requests, r.baseline.requests, r.excluded) == (1, 0, 2)


def test_a_sample_ratio_mismatch_is_flagged_and_fails_the_gates(store, clock):
    st = state_at(clock, 25)
    # every unit recorded as in the cohort while the flag says 25 %
    at = clock.now() + 1
    store.write_records([request(user=f"u{i}", variant="on" if i % 2 else "off",
                                 flag="to_dear", at=at) for i in range(400)])
    r = verdict(store, clock, st)
    assert r.sample_ratio.mismatch and r.sample_ratio.p_value < 0.001
    assert r.sample_ratio.observed_pct == 50.0
    assert r.verdict == "no-go"


def test_the_sample_ratio_test_waits_for_enough_units():
    small = sample_ratio(cohort_units=3, units=10, pct=5, alpha=0.001)
    assert small.p_value is None and not small.mismatch
    fair = sample_ratio(cohort_units=52, units=1000, pct=5, alpha=0.001)
    assert fair.p_value > 0.5 and not fair.mismatch
