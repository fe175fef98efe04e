"""The rating gate: callers' ratings (POST /v1/feedback, stored against record ids) of the
cohort against the baseline's. A cohort rated worse than the allowed drop is a no-go like a
rise in errors; too few ratings leave the gate unjudged without holding back the verdict."""

from __future__ import annotations

from axtui.flags.gates import evaluate_gates
from axtui.flags.model import FlagState
from axtui.flags.report import render_report

from .conftest import definition, traffic


def state_at(clock, pct: float, **gates) -> FlagState:
    return FlagState.seeded("to_dear", definition(pct=pct, gates=gates), by="t",
                            now=clock.now())


def rate_sides(store, since: float, cohort: float, baseline: float, every: int = 1) -> int:
    """Rate every `every`-th request of each side; returns how many were rated."""
    rated = 0
    for i, rec in enumerate(store.recent_records(since_ts=since, limit=10_000)):
        if i % every:
            continue
        store.rate(rec, cohort if rec.flags["to_dear"] == "on" else baseline)
        rated += 1
    return rated


def verdict(store, clock, st):
    clock.advance(120)
    return evaluate_gates(store, st, clock.now())


def test_a_cohort_rated_worse_than_the_allowed_drop_is_a_no_go(store, clock):
    st = state_at(clock, 25, max_rating_drop=0.1, min_ratings=20)
    traffic(store, st, start=clock.now())
    rate_sides(store, clock.now(), cohort=0.2, baseline=0.6)
    r = verdict(store, clock, st)
    assert r.verdict == "no-go"
    check = next(c for c in r.checks if c.name == "rating")
    assert check.passed is False
    assert (round(check.observed, 6), round(check.limit, 6)) == (0.2, 0.5)
    assert r.reasons == ["rating 0.20 < 0.50 (cohort mean rating >= baseline - 0.1)"]
    assert "mean rating" in "\n".join(render_report(r))


def test_a_cohort_rated_within_the_allowed_drop_is_a_go(store, clock):
    st = state_at(clock, 25, max_rating_drop=0.1, min_ratings=20)
    n_in, n_out = traffic(store, st, start=clock.now())
    rate_sides(store, clock.now(), cohort=0.55, baseline=0.6)
    r = verdict(store, clock, st)
    assert r.verdict == "go", r.reasons
    assert (r.cohort.ratings, r.baseline.ratings) == (n_in, n_out)
    assert round(r.cohort.mean_rating, 6) == 0.55


def test_too_few_ratings_leave_the_gate_unjudged_without_blocking(store, clock):
    st = state_at(clock, 25, min_ratings=1000)
    traffic(store, st, start=clock.now())
    rate_sides(store, clock.now(), cohort=-1.0, baseline=1.0)
    r = verdict(store, clock, st)
    check = next(c for c in r.checks if c.name == "rating")
    assert check.passed is None and "need 1000 each" in check.detail
    assert r.verdict == "go", r.reasons


def test_no_ratings_at_all_leave_the_gate_out(store, clock):
    st = state_at(clock, 25)
    traffic(store, st, start=clock.now())
    r = verdict(store, clock, st)
    assert r.verdict == "go" and r.cohort.ratings == r.baseline.ratings == 0
    assert r.cohort.mean_rating is None
    assert "rating" not in {c.name for c in r.checks}
    assert "mean rating" not in "\n".join(render_report(r))


def test_ratings_of_requests_before_the_last_change_do_not_count(store, clock):
    st = state_at(clock, 25, min_ratings=20)
    traffic(store, st, start=clock.now() - 600, prefix="old")
    rate_sides(store, clock.now() - 600, cohort=-1.0, baseline=1.0)  # the old cohort: rated low
    traffic(store, st, start=clock.now(), prefix="new")
    r = verdict(store, clock, st)
    assert r.cohort.ratings == r.baseline.ratings == 0
    assert r.verdict == "go"
