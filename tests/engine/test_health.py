"""The circuit breaker and rolling deployment health, on a virtual clock moved by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axtui.clock import VIRTUAL_EPOCH, VirtualClock
from axtui.config import BreakerConfig
from axtui.engine.health import BreakerState, CircuitBreaker, DeploymentHealth
from axtui.records import ErrorKind

CLOSED, OPEN, HALF_OPEN = BreakerState.closed, BreakerState.open, BreakerState.half_open


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def breaker(clock: VirtualClock, **cfg) -> CircuitBreaker:
    defaults = dict(
        window_s=30,
        min_calls=10,
        failure_rate=0.5,
        consecutive_failures=100,
        open_s=10,
        max_open_s=25,
        half_open_trials=2,
    )
    return CircuitBreaker(clock, BreakerConfig(**(defaults | cfg)), deployment="a/m")


def trip(b: CircuitBreaker) -> None:
    for _ in range(b.config.consecutive_failures):
        assert b.allow()
        b.on_failure(ErrorKind.server)
    assert b.state is OPEN


# --------------------------------------------------------------------------- breaker


def test_trips_on_failure_rate_once_min_calls_are_in_the_window(clock):
    b = breaker(clock)
    for i in range(9):
        b.on_success() if i % 2 else b.on_failure(ErrorKind.server)  # 5 of 9 failed
    assert b.state is CLOSED  # above the rate, but under min_calls
    b.on_failure(ErrorKind.timeout)  # 6 of 10
    assert b.state is OPEN
    assert b.trips == 1
    assert "6 of 10 calls failed" in b.history[-1].reason


def test_does_not_trip_under_min_calls(clock):
    b = breaker(clock)
    for _ in range(9):
        b.on_failure(ErrorKind.server)
    assert b.state is CLOSED and b.available()


def test_failures_leave_the_window_as_it_slides(clock):
    b = breaker(clock)
    for _ in range(9):
        b.on_failure(ErrorKind.server)
    clock.advance(31.0)
    for _ in range(9):
        b.on_success()
    b.on_failure(ErrorKind.server)  # 1 of 10 in the window now
    assert b.state is CLOSED


def test_does_not_trip_below_the_failure_rate(clock):
    b = breaker(clock)
    for i in range(100):
        b.on_failure(ErrorKind.server) if i % 3 == 0 else b.on_success()
    assert b.state is CLOSED


def test_trips_on_consecutive_failures(clock):
    b = breaker(clock, consecutive_failures=3, min_calls=100)
    b.on_failure(ErrorKind.server)
    b.on_failure(ErrorKind.connect)
    b.on_success()  # breaks the run
    b.on_failure(ErrorKind.server)
    b.on_failure(ErrorKind.overloaded)
    assert b.state is CLOSED
    b.on_failure(ErrorKind.malformed)
    assert b.state is OPEN
    assert "3 consecutive failures" in b.history[-1].reason


def test_open_refuses_then_turns_half_open_after_the_open_time(clock):
    b = breaker(clock, consecutive_failures=2)
    trip(b)
    assert not b.allow() and not b.available()
    assert b.open_until == pytest.approx(VIRTUAL_EPOCH + 10.0)
    clock.advance(9.99)
    assert b.state is OPEN
    clock.advance(0.01)
    assert b.state is HALF_OPEN
    assert b.open_until is None


def test_half_open_lets_only_n_trial_calls_through_at_once(clock):
    b = breaker(clock, consecutive_failures=2, half_open_trials=2)
    trip(b)
    clock.advance(10.0)
    assert b.available()
    assert b.allow() and b.allow()
    assert not b.available()
    assert not b.allow()
    b.release()  # a trial was cancelled: its permit comes back
    assert b.allow()
    assert not b.allow()


def test_enough_trial_successes_close_the_breaker(clock):
    b = breaker(clock, consecutive_failures=2, half_open_trials=2)
    trip(b)
    clock.advance(10.0)
    assert b.allow() and b.allow()
    b.on_success()
    assert b.state is HALF_OPEN
    b.on_success()
    assert b.state is CLOSED
    assert b.allow() and b.allow() and b.allow()  # closed: no permits to count


def test_a_failed_trial_reopens_for_twice_as_long_capped(clock):
    b = breaker(clock, consecutive_failures=2, open_s=10, max_open_s=25)
    trip(b)
    for expected_open_s in (20.0, 25.0, 25.0):
        clock.advance(b.open_until - clock.now())
        assert b.allow()
        b.on_failure(ErrorKind.timeout)
        assert b.state is OPEN
        assert b.open_until - clock.now() == pytest.approx(expected_open_s)
    assert b.trips == 4


def test_open_time_growth_resets_after_a_lasting_close(clock):
    b = breaker(clock, consecutive_failures=2, open_s=10, max_open_s=25)
    trip(b)
    clock.advance(10.0)
    b.allow()
    b.on_failure(ErrorKind.server)  # reopened for 20 s
    clock.advance(20.0)
    b.allow(), b.allow()
    b.on_success(), b.on_success()
    assert b.state is CLOSED
    clock.advance(5.0)
    trip(b)  # soon after closing: still growing
    assert b.open_until - clock.now() == pytest.approx(25.0)
    clock.advance(25.0)
    b.allow(), b.allow()
    b.on_success(), b.on_success()
    clock.advance(25.0)  # closed for max_open_s: healthy again
    trip(b)
    assert b.open_until - clock.now() == pytest.approx(10.0)


def test_retry_after_is_a_cooldown_not_a_trip(clock):
    b = breaker(clock)
    b.on_rate_limited(7.0)
    assert b.state is OPEN and not b.allow()
    assert b.trips == 0
    assert b.open_until == pytest.approx(VIRTUAL_EPOCH + 7.0)
    clock.advance(7.0)
    assert b.state is CLOSED  # straight back: a 429 says nothing about health
    assert [t.reason for t in b.history] == ["rate limited: retry after 7s", "cooldown over"]


def test_a_rate_limited_failure_is_routed_to_the_cooldown(clock):
    b = breaker(clock)
    b.on_failure(ErrorKind.rate_limited, retry_after_s=3.0)
    assert b.state is OPEN and b.trips == 0
    clock.advance(3.0)
    assert b.state is CLOSED


def test_a_429_during_half_open_waits_then_tries_again(clock):
    b = breaker(clock, consecutive_failures=2)
    trip(b)
    clock.advance(10.0)
    assert b.allow()
    b.on_rate_limited(4.0)
    assert b.state is OPEN and b.trips == 1
    clock.advance(4.0)
    assert b.state is HALF_OPEN  # health is still unproven


def test_caller_side_errors_do_not_trip(clock):
    b = breaker(clock, consecutive_failures=3)
    for kind in [
        ErrorKind.bad_request,
        ErrorKind.context_length,
        ErrorKind.content_policy,
        ErrorKind.not_found,
    ] * 10:
        b.on_failure(kind)
    assert b.state is CLOSED
    assert b.consecutive_failures == 0


def test_a_caller_side_error_in_half_open_releases_the_permit(clock):
    b = breaker(clock, consecutive_failures=2, half_open_trials=1)
    trip(b)
    clock.advance(10.0)
    assert b.allow() and not b.allow()
    b.on_failure(ErrorKind.bad_request)
    assert b.state is HALF_OPEN
    assert b.allow()


def test_results_of_calls_started_before_the_trip_are_ignored(clock):
    b = breaker(clock, consecutive_failures=2, half_open_trials=1)
    trip(b)
    b.on_success()  # a straggler while open
    clock.advance(10.0)
    assert b.state is HALF_OPEN
    b.on_failure(ErrorKind.server)  # a straggler: no trial permit is out
    assert b.state is HALF_OPEN
    assert b.allow()
    b.on_success()
    assert b.state is CLOSED


def test_transitions_are_recorded_and_reported(clock):
    seen = []
    b = breaker(clock, consecutive_failures=2, half_open_trials=1)
    b.on_transition = lambda *args: seen.append(args)
    trip(b)
    clock.advance(10.0)
    b.allow()
    b.on_success()
    assert [(t.old, t.new) for t in b.history] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    assert [t.at - VIRTUAL_EPOCH for t in b.history] == [0.0, 10.0, 10.0]
    assert [s[:3] for s in seen] == [
        ("a/m", CLOSED, OPEN),
        ("a/m", OPEN, HALF_OPEN),
        ("a/m", HALF_OPEN, CLOSED),
    ]
    assert seen[-1][3] == "1 trial calls succeeded"


def test_a_failing_observer_does_not_break_the_breaker(clock):
    def boom(*_):
        raise RuntimeError("observer bug")

    b = breaker(clock, consecutive_failures=1)
    b.on_transition = boom
    b.on_failure(ErrorKind.server)
    assert b.state is OPEN


def test_history_is_bounded(clock):
    b = breaker(clock, consecutive_failures=1, open_s=1, max_open_s=1)
    for _ in range(100):
        b.on_failure(ErrorKind.server)
        clock.advance(1.0)
        b.allow()
    assert len(b.history) == CircuitBreaker.HISTORY


def test_operator_reset_closes_at_once(clock):
    b = breaker(clock, consecutive_failures=1)
    b.on_failure(ErrorKind.server)
    b.reset()
    assert b.state is CLOSED and b.allow()


# --------------------------------------------------------------------------- health


def test_success_rate_counts_deployment_failures_over_the_window(clock):
    h = DeploymentHealth(clock, window_s=60.0)
    assert h.success_rate() == 1.0  # unknown: worth trying
    for _ in range(3):
        h.record_success(100.0)
    h.record_failure(ErrorKind.server, 5.0)
    h.record_failure(ErrorKind.bad_request, 5.0)  # the caller's fault, not the deployment's
    assert h.success_rate() == pytest.approx(4 / 5)
    clock.advance(61.0)
    assert h.success_rate() == 1.0
    assert h.snapshot().success_rate is None


def test_success_rate_slides_with_the_window(clock):
    h = DeploymentHealth(clock, window_s=60.0)
    h.record_failure(ErrorKind.server)
    h.record_failure(ErrorKind.connect)
    clock.advance(30.0)
    h.record_success(100.0)
    h.record_success(100.0)
    assert h.success_rate() == pytest.approx(0.5)
    clock.advance(31.0)  # the failures at t=0 have left; the successes at t=30 have not
    assert h.success_rate() == 1.0
    assert h.snapshot().attempts == 2


def test_latency_percentiles_and_ewma_come_from_successes(clock):
    h = DeploymentHealth(clock)
    for ms in range(1, 101):
        h.record_success(float(ms))
    h.record_failure(ErrorKind.timeout, 60_000.0)
    assert h.p50_ms() == pytest.approx(51.0)
    assert h.p95_ms() == pytest.approx(95.0)
    assert 90.0 < h.ewma_ms < 100.0  # recent samples weigh most


def test_latency_percentiles_forget_samples_older_than_the_window(clock):
    h = DeploymentHealth(clock, window_s=10.0)
    for _ in range(50):
        h.record_success(1000.0)
    clock.advance(11.0)
    for _ in range(20):
        h.record_success(100.0)
    assert h.p95_ms() == pytest.approx(100.0)
    clock.advance(11.0)
    assert h.p50_ms() is None


def test_percentiles_follow_new_samples_without_resorting_each_time(clock):
    h = DeploymentHealth(clock)
    for _ in range(200):
        h.record_success(100.0)
    assert h.p50_ms() == 100.0
    for _ in range(256):
        h.record_success(300.0)
    assert h.p50_ms() == 300.0  # the ring holds the newest 256


def test_in_flight_and_consecutive_failures(clock):
    h = DeploymentHealth(clock)
    h.begin(), h.begin()
    assert h.in_flight == 2
    h.end()
    h.record_failure(ErrorKind.overloaded)
    h.record_failure(ErrorKind.rate_limited)
    assert h.consecutive_failures == 2
    assert h.last_error_kind is ErrorKind.rate_limited
    h.record_success(50.0, ttft_ms=20.0)
    assert h.consecutive_failures == 0
    assert h.in_flight == 1


def test_snapshot_carries_stats_and_the_breaker(clock):
    h = DeploymentHealth(clock)
    b = breaker(clock, consecutive_failures=2)
    h.record_success(200.0, ttft_ms=80.0)
    clock.advance(1.0)
    h.record_failure(ErrorKind.server, 10.0)
    trip(b)
    s = h.snapshot(b)
    assert (s.attempts, s.failures, s.success_rate) == (2, 1, 0.5)
    assert (s.p50_ms, s.p95_ms, s.ewma_ms) == (200.0, 200.0, 200.0)
    assert (s.ttft_p50_ms, s.ttft_ewma_ms) == (80.0, 80.0)
    assert s.last_error_kind is ErrorKind.server
    assert s.last_error_at == pytest.approx(VIRTUAL_EPOCH + 1.0)
    assert s.breaker is OPEN and s.trips == 1
    assert s.open_until == pytest.approx(VIRTUAL_EPOCH + 11.0)
    assert h.snapshot().breaker is None


# --------------------------------------------------------------------------- panic trials


def test_panic_trials_pass_an_open_breaker_at_a_bounded_rate(clock):
    b = breaker(clock, consecutive_failures=1, panic_trials_per_s=2)
    trip(b)
    assert not b.available()
    assert b.allow_panic()
    assert not b.allow_panic()  # the next one half a second later
    clock.advance(0.5)
    assert b.allow_panic()


def test_a_failed_panic_trial_changes_nothing(clock):
    b = breaker(clock, consecutive_failures=1)
    trip(b)
    trips, until = b.trips, b.open_until
    assert b.allow_panic()
    b.on_failure(ErrorKind.server)
    assert b.state is OPEN and b.trips == trips and b.open_until == until


def test_a_successful_panic_trial_counts_as_a_trial_success(clock):
    b = breaker(clock, consecutive_failures=1, half_open_trials=2)
    trip(b)
    assert b.allow_panic()
    b.on_success()
    assert b.state is HALF_OPEN
    assert b.allow()
    b.on_success()
    assert b.state is CLOSED


def test_no_panic_trial_through_a_429_cooldown(clock):
    b = breaker(clock)
    b.on_rate_limited(5.0)
    assert b.state is OPEN and b.cooling_s() == pytest.approx(5.0)
    assert not b.allow_panic()


def test_a_half_open_breaker_with_its_trials_out_may_take_a_panic_trial(clock):
    b = breaker(clock, consecutive_failures=1, half_open_trials=1)
    trip(b)
    clock.advance(10)
    assert b.allow() and not b.available()
    assert b.allow_panic()
    b.on_success()
    assert b.state is CLOSED


# --------------------------------------------------------------------------- replayed
_KINDS = [None, None, None, ErrorKind.server, ErrorKind.timeout, ErrorKind.rate_limited,
          ErrorKind.bad_request]


@given(st.lists(st.tuples(st.sampled_from(_KINDS),
                          st.one_of(st.none(), st.floats(0.0, 20.0)),
                          st.floats(0.0, 6.0)), max_size=120))
@settings(max_examples=150, deadline=None)
def test_a_replayed_attempt_moves_the_breaker_as_allow_and_its_verdict_would(steps):
    """`replayed` (the faithful replay's hot path) is `allow()` then on_success /
    on_rate_limited / on_failure, skipped when refused: the same transitions, at the same
    times, for any sequence of recorded attempts."""
    seen: dict[str, list] = {"replayed": [], "by hand": []}
    clocks = {name: VirtualClock() for name in seen}
    breakers = {
        name: CircuitBreaker(clocks[name], BreakerConfig(
            window_s=30, min_calls=4, failure_rate=0.5, consecutive_failures=5, open_s=5,
            max_open_s=25, half_open_trials=2), deployment="a/m",
            on_transition=lambda _d, old, new, why, name=name: seen[name].append(
                (clocks[name].monotonic(), str(old), str(new), why)))
        for name in seen}
    for kind, retry_after, wait in steps:
        for name, b in breakers.items():
            clocks[name].advance(wait)
            if name == "replayed":
                b.replayed(kind, retry_after)
            elif b.allow():
                if kind is None:
                    b.on_success()
                elif kind is ErrorKind.rate_limited:
                    b.on_rate_limited(retry_after)
                else:
                    b.on_failure(kind)
    assert seen["replayed"] == seen["by hand"]
    assert breakers["replayed"].state == breakers["by hand"].state
    assert breakers["replayed"].consecutive_failures == breakers["by hand"].consecutive_failures
