"""Provider headroom and caller quotas, on a virtual clock moved by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axtui.clock import VIRTUAL_EPOCH, VirtualClock
from axtui.config import QuotaLimits
from axtui.engine.limits import CallerQuotas, Headroom, RateWindow
from axtui.providers.base import RateLimitInfo
from axtui.records import NANO_PER_USD


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


# --------------------------------------------------------------------------- the window


def test_window_allows_a_burst_of_the_limit_then_refills_continuously():
    w = RateWindow(60, 60.0)
    for _ in range(60):
        assert w.fits(0.0)
        w.take(0.0)
    assert not w.fits(0.0)
    assert w.wait_s(0.0) == pytest.approx(1.0)  # one request per second comes back
    assert w.fits(1.0) and not w.fits(1.0, 2)
    assert w.remaining(30.0) == 30
    assert w.reset_s(30.0) == pytest.approx(30.0)


def test_window_gives_back_an_overestimate():
    w = RateWindow(1000, 60.0)
    w.take(0.0, 900)
    assert not w.fits(0.0, 200)
    w.give_back(500)
    assert w.fits(0.0, 200)
    assert w.remaining(0.0) == 600


# --------------------------------------------------------------------------- headroom


def test_headroom_blocks_at_the_configured_rpm_and_recovers_after_the_window(clock):
    room = Headroom(clock, rpm=3)
    for _ in range(3):
        assert room.has_room()
        room.consume()
    assert not room.has_room()  # a fourth would be the upstream's 429
    assert room.wait_s() == pytest.approx(20.0)
    clock.advance(19.9)
    assert not room.has_room()
    clock.advance(0.1)
    assert room.has_room()  # one of three comes back every 20 s
    clock.advance(40.0)
    assert room.fraction_left() == pytest.approx(1.0)


def test_headroom_without_limits_always_has_room(clock):
    room = Headroom(clock)
    for _ in range(10_000):
        room.consume(5000)
    assert room.has_room(10**9)
    assert room.fraction_left() == 1.0


def test_headroom_counts_tokens_per_minute_and_takes_corrections(clock):
    room = Headroom(clock, tpm=1000)
    room.consume(600)  # estimate: prompt + max_tokens
    assert room.has_room(400)
    assert not room.has_room(500)
    room.adjust(-400)  # the response used 200, not 600
    assert room.has_room(800)
    assert not room.has_room(801)
    room.adjust(300)  # or more than estimated
    assert not room.has_room(501)
    assert room.fraction_left() == pytest.approx(0.5)


def test_headroom_day_windows_hold_a_free_tier_past_the_minute(clock):
    room = Headroom(clock, rpm=30, rpd=2)
    room.consume()
    room.consume()
    clock.advance(120.0)
    assert not room.has_room()
    assert room.wait_s() == pytest.approx(86_400 / 2 - 120.0)


def test_learned_remaining_zero_means_no_room_until_the_reset(clock):
    room = Headroom(clock)
    room.learn(RateLimitInfo(remaining_requests=0, reset_requests_s=6.0))
    assert not room.has_room()
    assert room.wait_s() == pytest.approx(6.0)
    clock.advance(5.9)
    assert not room.has_room()
    clock.advance(0.1)
    assert room.has_room()


def test_learned_remaining_is_used_up_by_what_we_send_after(clock):
    room = Headroom(clock)
    room.learn(RateLimitInfo(limit_requests=100, remaining_requests=2, reset_requests_s=30.0))
    assert room.fraction_left() == pytest.approx(0.02)
    room.consume()
    assert room.has_room()
    room.consume()
    assert not room.has_room()
    clock.advance(30.0)
    assert room.has_room()


def test_learned_tokens_refuse_a_request_larger_than_what_is_left(clock):
    room = Headroom(clock)
    room.learn(RateLimitInfo(remaining_tokens=500, reset_tokens_s=10.0))
    assert room.has_room(500)
    assert not room.has_room(501)
    clock.advance(10.0)
    assert room.has_room(501)


def test_a_429_cools_the_deployment_down_for_its_retry_after(clock):
    room = Headroom(clock, rpm=1000)
    room.cooldown(5.0)
    assert not room.has_room()
    assert room.cooldown_until == pytest.approx(VIRTUAL_EPOCH + 5.0)
    assert room.fraction_left() == 0.0
    room.cooldown(2.0)  # a shorter retry-after never shortens a cooldown
    clock.advance(4.99)
    assert not room.has_room()
    clock.advance(0.01)
    assert room.has_room()
    assert room.cooldown_until is None


def test_a_429_without_retry_after_cools_down_for_a_second(clock):
    room = Headroom(clock)
    room.cooldown(None)
    assert not room.has_room()
    clock.advance(1.0)
    assert room.has_room()


def test_learning_a_retry_after_starts_a_cooldown(clock):
    room = Headroom(clock)
    room.learn(RateLimitInfo(retry_after_s=3.0))
    assert not room.has_room()
    clock.advance(3.0)
    assert room.has_room()


def test_learned_remaining_zero_without_a_reset_lasts_until_the_retry_after(clock):
    room = Headroom(clock)
    room.learn(RateLimitInfo(remaining_requests=0, retry_after_s=1.0))
    assert not room.has_room()
    clock.advance(1.0)
    assert room.has_room()  # not the minute it used to be


def test_learned_remaining_without_a_reset_or_retry_after_lasts_a_short_default(clock):
    room = Headroom(clock, learned_s=3.0)
    room.learn(RateLimitInfo(remaining_requests=0))
    assert room.wait_s() == pytest.approx(3.0)
    clock.advance(3.0)
    assert room.has_room()


def test_a_retry_after_shortens_an_exhausted_counts_reset_but_not_a_live_one(clock):
    room = Headroom(clock)
    room.learn(RateLimitInfo(remaining_requests=0, reset_requests_s=50.0, retry_after_s=2.0))
    assert room.wait_s() == pytest.approx(2.0)
    room.learn(RateLimitInfo(remaining_requests=5, reset_requests_s=50.0))
    for _ in range(5):
        room.consume()
    assert room.wait_s() == pytest.approx(50.0)


def test_an_answer_without_headers_forgets_a_count_we_ran_below_zero(clock):
    room = Headroom(clock)
    room.learn(RateLimitInfo(remaining_requests=1, reset_requests_s=60.0))
    room.consume()
    room.answered()  # sent within the count: it stands
    assert not room.has_room()
    room.consume()  # sent past it (every other deployment was out), and answered
    room.answered()
    assert room.has_room()


def test_only_a_429_is_a_cooldown_the_rest_is_prediction(clock):
    room = Headroom(clock, rpm=1)
    room.consume()
    assert not room.has_room() and room.cooling_s() == 0.0
    room.cooldown(2.5)
    assert room.cooling_s() == pytest.approx(2.5)


# --------------------------------------------------------------------------- caller quotas


def test_quotas_without_limits_are_disabled_and_admit_everyone(clock):
    q = CallerQuotas(clock, QuotaLimits(), QuotaLimits())
    assert not q.enabled
    assert q.check("u", "k", 10**6).ok
    assert len(q) == 0


def test_user_rpm_refuses_with_the_time_until_a_request_fits(clock):
    q = CallerQuotas(clock, per_user=QuotaLimits(rpm=2))
    assert q.check("alice", None).ok
    assert q.check("alice", None).ok
    d = q.check("alice", None)
    assert not d.ok and d.scope == "user"
    assert "2 requests per minute" in d.reason
    assert d.retry_after_s == pytest.approx(30.0)
    assert q.check("bob", None).ok  # per user
    clock.advance(30.0)
    assert q.check("alice", None).ok


def test_key_refusal_does_not_spend_the_users_allowance(clock):
    q = CallerQuotas(clock, per_user=QuotaLimits(rpm=2), per_key=QuotaLimits(rpm=1))
    assert q.check("alice", "k1").ok
    d = q.check("alice", "k1")
    assert not d.ok and d.scope == "key"
    assert q.check("alice", "k2").ok  # alice still had one request left
    assert q.check("alice", "k3").scope == "user"


def test_tpm_counts_recorded_tokens_and_refuses_the_next_estimate(clock):
    q = CallerQuotas(clock, per_user=QuotaLimits(tpm=1000))
    assert q.check("alice", None, est_tokens=400).ok
    q.record("alice", None, tokens=900, cost_nano=0)
    d = q.check("alice", None, est_tokens=400)
    assert not d.ok and d.scope == "user" and "tokens per minute" in d.reason
    assert d.retry_after_s == pytest.approx(18.0)  # 300 tokens refill at 1000/60 per second
    clock.advance(18.0)
    assert q.check("alice", None, est_tokens=400).ok


def test_a_request_larger_than_the_tpm_quota_is_refused_for_good(clock):
    q = CallerQuotas(clock, per_key=QuotaLimits(tpm=1000))
    d = q.check(None, "k", est_tokens=1500)
    assert not d.ok and d.retry_after_s is None and d.scope == "key"


def test_daily_spend_refuses_until_utc_midnight_and_rolls_over(clock):
    q = CallerQuotas(clock, per_user=QuotaLimits(spend_day_usd=Decimal("1.50")))
    clock.advance(23 * 3600.0)  # 23:00 UTC
    q.record("alice", None, tokens=100, cost_nano=NANO_PER_USD)
    assert q.check("alice", None).ok
    q.record("alice", None, tokens=100, cost_nano=NANO_PER_USD // 2)
    d = q.check("alice", None)
    assert not d.ok and "daily spend" in d.reason
    assert d.retry_after_s == pytest.approx(3600.0)
    clock.advance(3600.0)  # midnight: a new day
    assert q.check("alice", None).ok


def test_remaining_reports_the_tightest_limits_for_headers(clock):
    q = CallerQuotas(clock, per_user=QuotaLimits(rpm=10, tpm=5000), per_key=QuotaLimits(rpm=3))
    fresh = q.remaining("alice", "k")
    assert (fresh.limit_requests, fresh.remaining_requests) == (3, 3)
    assert (fresh.limit_tokens, fresh.remaining_tokens) == (5000, 5000)
    q.check("alice", "k")
    q.record("alice", "k", tokens=1000, cost_nano=0)
    info = q.remaining("alice", "k")
    assert (info.limit_requests, info.remaining_requests) == (3, 2)
    assert info.reset_requests_s == pytest.approx(20.0)
    assert info.remaining_tokens == 4000
    assert q.remaining(None, None).is_empty()


def test_callers_are_bounded_least_recently_seen_first(clock):
    q = CallerQuotas(clock, per_user=QuotaLimits(rpm=1), max_callers=100)
    for i in range(250):
        q.check(f"user-{i}", None)
    assert len(q) == 100
    assert not q.check("user-249", None).ok  # the recent ones are still counted


def test_idle_callers_are_forgotten(clock):
    q = CallerQuotas(clock, per_user=QuotaLimits(rpm=10))
    for i in range(50):
        q.check(f"user-{i}", None)
    clock.advance(120.0)
    q.check("late", None)
    assert len(q) == 1


@pytest.mark.parametrize(("limit", "used", "left"), [
    (10, 0.0, 10), (10, 3.0, 7), (10, 3.2, 6), (10, 2.9999999999, 7), (10, 9.99, 0),
    (10, 12.5, 0),  # in debt: none left, never a negative count
    (10, -0.5, 10),  # never above the limit
])
def test_window_left_is_the_floor_of_limit_minus_used_within_zero_and_the_limit(
        limit, used, left):
    from axtui.engine.limits import window_left

    assert window_left(limit, used) == left
