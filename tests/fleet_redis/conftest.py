"""Fleet tests run against a real redis-server (tests/servers/redis.py), never a mock.
Without a server binary they skip with the reason; CI installs one (.ci/run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from axtui.clock import VirtualClock
from axtui.engine.engine import Engine
from axtui.fleet.fleet import attach
from tests.fleet_redis.configs import fleet_config
from tests.servers.redis import NOT_FOUND, RedisServer, find_redis_server


@pytest.fixture(scope="session")
def redis_binary() -> str:
    binary = find_redis_server()
    if binary is None:
        pytest.skip(NOT_FOUND)
    return binary


@pytest.fixture(scope="session")
def shared_redis(redis_binary: str) -> Iterator[RedisServer]:
    """One server for the session; `redis_url` empties it before each test."""
    with RedisServer.start(binary=redis_binary) as server:
        yield server


@pytest.fixture
def redis_url(shared_redis: RedisServer) -> str:
    import redis

    if not shared_redis.running:  # a test stopped it
        shared_redis.launch()
    client = redis.Redis.from_url(shared_redis.url)
    client.flushall()
    client.close()
    return shared_redis.url


@pytest.fixture
def own_redis(redis_binary: str) -> Iterator[RedisServer]:
    """A server this test alone stops and restarts."""
    with RedisServer.start(binary=redis_binary) as server:
        yield server


@pytest.fixture
def clock():
    """The engines' clock (tests that share engines through Redis)."""
    return VirtualClock()


@pytest.fixture
async def pair(redis_url, clock):
    """`pair(**config)`: two engines' shared quotas on one Redis and one clock, as two
    gateway processes hold them (closed after the test); the keywords are fleet_config's
    (`quotas={...}`, `key_rpm=3`, ...)."""
    made = []

    def make(**config_kw):
        config = fleet_config(redis_url, **config_kw)
        out = []
        for name in ("one", "two"):
            engine = Engine(config, clock=clock, seed=1)
            made.append((engine, attach(engine, config.redis, origin=name)))
            out.append(made[-1][1].quotas)
        return out

    yield make
    for engine, fleet in made:
        await fleet.aclose()
        await engine.aclose()
