from __future__ import annotations

import pytest

from axtui.engine.engine import Engine
from axtui.engine.health import BreakerState
from axtui.fleet.fleet import attach
from tests.fleet_redis.configs import fleet_config
from tests.fleet_redis.processes import run_workers


@pytest.fixture
async def engine_and_fleet(redis_url):
    config = fleet_config(redis_url)
    engine = Engine(config, seed=1)
    fleet = attach(engine, config.redis, origin="test-process")
    yield engine, fleet
    await fleet.aclose()
    await engine.aclose()


async def test_another_process_breaker_trip_opens_ours_at_the_next_poll(engine_and_fleet,
                                                                         redis_url):
    engine, fleet = engine_and_fleet
    assert await fleet.poll()
    assert engine.deployments["a/m1"].breaker.state is BreakerState.closed
    [tripped] = run_workers(("trip", redis_url, "a/m1"))
    assert tripped["state"] == "open" and tripped["published"] == 1
    assert await fleet.poll()
    ours = engine.deployments["a/m1"].breaker
    assert ours.state is BreakerState.open
    assert ours.open_until == pytest.approx(tripped["until"], abs=0.05)
    assert ours.history[-1].reason.startswith("fleet: 5 consecutive failures")
    assert engine.deployments["b/m2"].breaker.state is BreakerState.closed


async def test_an_adopted_trip_is_not_written_back(engine_and_fleet, redis_url):
    engine, fleet = engine_and_fleet
    run_workers(("trip", redis_url, "a/m1"))
    await fleet.poll()
    assert fleet.breakers.adopted == 1
    assert fleet.breakers.published == 0


async def test_another_process_429_cooldown_holds_here_at_the_next_poll(engine_and_fleet,
                                                                       redis_url):
    engine, fleet = engine_and_fleet
    [cooled] = run_workers(("cool", redis_url, "b/m2"))
    assert cooled["cooling_s"] == pytest.approx(30.0, abs=0.5)
    assert engine.deployments["b/m2"].headroom.cooling_s() == 0.0
    assert await fleet.poll()
    assert engine.deployments["b/m2"].headroom.cooling_s() == pytest.approx(30.0, abs=2.0)
    assert not engine.deployments["b/m2"].headroom.has_room()
    assert engine.deployments["a/m1"].headroom.cooling_s() == 0.0


async def test_a_trip_here_is_published_for_the_others(engine_and_fleet, redis_url):
    import redis

    engine, fleet = engine_and_fleet
    from axtui.records import ErrorKind

    breaker = engine.deployments["b/m2"].breaker
    for _ in range(engine.config.breaker.consecutive_failures):
        breaker.allow()
        breaker.on_failure(ErrorKind.timeout)
    assert fleet.breakers.published == 1
    client = redis.Redis.from_url(redis_url)
    assert client.pttl(fleet.breakers.key("b/m2")) > 0
    client.close()
