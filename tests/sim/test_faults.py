"""Which faults a call meets: by its time, its number and the seed, never by chance."""

from __future__ import annotations

from axtui.sim.faults import plan_call
from axtui.sim.scenario import Fault


def _fault(**kw) -> Fault:
    return Fault.model_validate({"upstream": "alpha", **kw})


def _plans(faults, *, seed=0, t=1.0, calls=range(200)):
    keyed = [(f"s{i}", f) for i, f in enumerate(faults)]
    return [plan_call(keyed, t, seed=seed, upstream="alpha", call=n) for n in calls]


def test_a_fault_outside_its_window_hits_nothing() -> None:
    down = _fault(kind="error", start_s=10, end_s=20)
    assert {p.outcome for p in _plans([down], t=9.9)} == {"ok"}
    assert {p.outcome for p in _plans([down], t=10)} == {"error"}
    assert {p.outcome for p in _plans([down], t=20)} == {"ok"}


def test_a_rate_hits_about_that_share_of_calls() -> None:
    storm = _fault(kind="rate_limit", rate=0.5)
    hit = sum(p.outcome == "rate_limited" for p in _plans([storm], calls=range(2000)))
    assert 900 <= hit <= 1100


def test_one_seed_replays_the_same_calls_and_another_does_not() -> None:
    storm = _fault(kind="rate_limit", rate=0.5)
    first = [p.outcome for p in _plans([storm], seed=7)]
    assert first == [p.outcome for p in _plans([storm], seed=7)]
    assert first != [p.outcome for p in _plans([storm], seed=8)]


def test_a_calls_fate_does_not_depend_on_other_faults() -> None:
    storm = _fault(kind="rate_limit", rate=0.5)
    slow = _fault(kind="latency", rate=0.5, factor=2.0)
    alone = [p.rate_limit is not None for p in _plans([storm])]
    assert alone == [p.rate_limit is not None for p in _plans([storm, slow])]


def test_an_outage_wins_over_a_rate_limit_which_wins_over_an_error() -> None:
    faults = [_fault(kind="error", status=500), _fault(kind="rate_limit"),
              _fault(kind="outage", mode="close")]
    assert _plans(faults)[0].outage == "close"
    plan = _plans(faults[:2])[0]
    assert plan.outcome == "rate_limited" and plan.rate_limit is faults[1]
    assert _plans(faults[:1])[0].status == 500


def test_latency_factors_multiply_and_first_byte_delays_add() -> None:
    plan = _plans([_fault(kind="latency", factor=2.0), _fault(kind="latency", factor=3.0),
                   _fault(kind="slow_first_byte", delay_ms=100),
                   _fault(kind="slow_first_byte", delay_ms=250)])[0]
    assert plan.factor == 6.0 and plan.first_byte_delay_s == 0.35
    assert plan.outcome == "ok"


def test_the_earliest_stream_cut_applies() -> None:
    plan = _plans([_fault(kind="cut_stream", after_chunks=5),
                   _fault(kind="cut_stream", after_chunks=2)])[0]
    assert plan.cut_after == 2 and plan.hits == ("s0", "s1")


def test_an_error_fault_defaults_to_503_and_a_rate_limit_to_429() -> None:
    assert _fault(kind="error").error_status == 503
    assert _fault(kind="rate_limit").error_status == 429
