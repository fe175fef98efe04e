"""Shared quotas keep the in-process rules (engine/limits.py), counted across engines."""

from __future__ import annotations

import pytest

from axtui.engine.engine import Engine
from axtui.fleet.fleet import attach
from tests.fleet_redis.configs import fleet_config


def test_the_rpm_of_a_key_counts_requests_admitted_by_either_engine(pair, clock):
    one, two = pair(key_rpm=3)
    assert one.check(None, "k").ok and one.check(None, "k").ok and two.check(None, "k").ok
    refused = two.check(None, "k")
    assert not refused.ok and refused.scope == "key"
    assert refused.reason == "key rate limit: 3 requests per minute"
    assert refused.retry_after_s == pytest.approx(20.0, abs=1e-3)
    assert not one.check(None, "k").ok
    clock.advance(20.0)
    assert one.check(None, "k").ok
    assert not two.check(None, "k").ok


def test_other_callers_are_not_counted_together(pair):
    one, two = pair(key_rpm=1)
    assert one.check(None, "k1").ok
    assert two.check(None, "k2").ok
    assert not two.check(None, "k1").ok


def test_tokens_recorded_by_one_engine_leave_less_room_in_the_other(pair):
    one, two = pair(key_tpm=1000)
    assert one.check(None, "k", 100).ok
    one.record(None, "k", 900, 0)
    one.link.flush()  # what the poll does; a busy engine's next admit carries it anyway
    refused = two.check(None, "k", 200)
    assert not refused.ok and refused.reason == "key token limit: 1000 tokens per minute"
    assert refused.retry_after_s == pytest.approx(6.0, abs=1e-3)  # 100 tokens at 1000/min
    too_big = two.check(None, "k", 2000)
    assert too_big.retry_after_s is None
    assert too_big.reason == ("request needs ~2000 tokens, above the key limit of 1000 tokens "
                              "per minute")


def test_spend_of_the_day_is_the_fleet_sum_and_resets_at_utc_midnight(pair, clock):
    one, two = pair(key_spend_usd="1")
    one.record(None, "k", 10, 600_000_000)
    one.link.flush()
    assert two.check(None, "k").ok
    two.record(None, "k", 10, 400_000_000)
    two.link.flush()
    refused = one.check(None, "k")
    assert not refused.ok and refused.reason == "key daily spend limit reached ($1)"
    assert refused.retry_after_s == pytest.approx(86_400.0)  # the virtual epoch is a midnight
    clock.advance(86_400.0)
    assert one.check(None, "k").ok


def test_rate_limit_headers_show_what_the_fleet_used(pair):
    one, two = pair(key_rpm=10)
    for _ in range(3):
        assert one.check(None, "k").ok
    assert two.check(None, "k").ok
    info = two.remaining(None, "k")
    assert (info.limit_requests, info.remaining_requests) == (10, 6)
    assert info.reset_requests_s == pytest.approx(24.0, abs=1e-3)


async def test_what_was_admitted_while_redis_was_away_is_added_when_it_returns(own_redis, clock):
    config = fleet_config(own_redis.url, key_rpm=4, max_backoff_s=0.05)
    engine = Engine(config, clock=clock, seed=1)
    fleet = attach(engine, config.redis, origin="alone")
    own_redis.stop()
    assert fleet.quotas.check(None, "k").ok and fleet.quotas.check(None, "k").ok
    own_redis.launch()
    assert fleet.link.probe()  # reconnects and catches up
    other = Engine(config, clock=clock, seed=2)
    other_fleet = attach(other, config.redis, origin="other")
    assert other_fleet.quotas.check(None, "k").ok and other_fleet.quotas.check(None, "k").ok
    assert not other_fleet.quotas.check(None, "k").ok
    for e, f in ((engine, fleet), (other, other_fleet)):
        await f.aclose()
        await e.aclose()


def test_a_recorded_use_rides_with_the_same_engines_next_admit(pair):
    one, two = pair(key_tpm=1000)
    calls = one.link.calls
    one.record(None, "k", 950, 0)
    assert one.link.calls == calls  # deferred: no round trip of its own
    assert two.check(None, "k", 100).ok  # not sent yet
    refused = one.check(None, "k", 100)  # one round trip: the record, then the check
    assert one.link.calls == calls + 1
    assert not refused.ok and refused.reason == "key token limit: 1000 tokens per minute"


async def test_spend_counted_while_redis_was_up_still_limits_when_it_goes(own_redis, clock):
    config = fleet_config(own_redis.url, key_spend_usd="1")
    engine = Engine(config, clock=clock, seed=1)
    fleet = attach(engine, config.redis, origin="spender")
    fleet.quotas.record(None, "k", 10, 1_000_000_000)
    fleet.link.flush()
    own_redis.stop()
    refused = fleet.quotas.check(None, "k")
    assert fleet.link.up is False
    assert not refused.ok and refused.reason == "key daily spend limit reached ($1)"
    await fleet.aclose()
    await engine.aclose()
