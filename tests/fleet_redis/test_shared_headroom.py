"""A deployment's configured rpm counts every engine's requests; the poll brings it in."""

from __future__ import annotations

import pytest

from axtui.clock import VirtualClock
from axtui.engine.engine import Engine
from axtui.fleet.fleet import attach
from tests.fleet_redis.configs import fleet_config


@pytest.fixture
async def two_engines(redis_url):
    clock = VirtualClock()
    config = fleet_config(redis_url, deployment_rpm=10)
    engines = [Engine(config, clock=clock, seed=i) for i in range(2)]
    fleets = [attach(e, config.redis, origin=f"e{i}") for i, e in enumerate(engines)]
    yield engines, fleets, clock
    for e, f in zip(engines, fleets, strict=True):
        await f.aclose()
        await e.aclose()


async def test_a_deployment_rpm_counts_requests_sent_by_every_engine(two_engines):
    (one, two), (fleet_one, fleet_two), clock = two_engines
    calls = fleet_one.link.calls
    for _ in range(6):
        one.deployments["a/m1"].headroom.consume()
    assert fleet_one.link.calls == calls  # no round trip on the request's path
    for _ in range(4):
        two.deployments["a/m1"].headroom.consume()
    assert one.deployments["a/m1"].headroom.has_room()  # 6 of 10 here until a poll
    assert await fleet_two.poll()  # sends two's 4 and reads one's 6... not yet sent
    assert two.deployments["a/m1"].headroom.has_room()
    assert await fleet_one.poll()  # sends one's 6, reads the fleet's 10
    room = one.deployments["a/m1"].headroom
    assert not room.has_room()
    assert room.wait_s() == pytest.approx(6.0, abs=1e-3)
    clock.advance(6.0)
    assert room.has_room()


async def test_deployments_without_configured_limits_make_no_round_trip(two_engines,
                                                                       redis_url):
    import redis

    (one, _), _, _ = two_engines
    room = one.deployments["b/m2"].headroom
    client = redis.Redis.from_url(redis_url)

    def commands() -> int:
        return client.info("stats")["total_commands_processed"]

    before = commands()
    room.consume(100)
    room.adjust(-50)
    assert room.has_room(10**9)
    one.deployments["b/m2"].headroom.link.flush()
    assert commands() == before + 1  # the INFO that read it
    client.close()
