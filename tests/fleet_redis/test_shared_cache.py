"""The response cache's Redis backend: shared across engines, TTL per entry, size bounds."""

from __future__ import annotations

import pytest

from axtui.cache.backend import MemoryBackend
from axtui.clock import VirtualClock
from axtui.engine.engine import Engine, RequestContext
from axtui.fleet.cache import RedisBackend
from axtui.fleet.fleet import attach
from axtui.fleet.link import RedisLink
from axtui.providers.base import ChatRequest
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fleet_redis.configs import fleet_config


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
async def backends(redis_url, clock):
    links = []

    def make(max_entries: int = 100, max_bytes: int = 1 << 20, url: str = redis_url):
        link = RedisLink(url, timeout_s=0.2, max_backoff_s=0.05)
        links.append(link)
        return RedisBackend(link, clock, route="chat", max_entries=max_entries,
                            max_bytes=max_bytes,
                            local=MemoryBackend(clock, max_entries=max_entries,
                                                max_bytes=max_bytes))

    yield make
    for link in links:
        await link.aclose()


async def test_an_answer_stored_by_one_process_is_found_by_another(backends):
    one, two = backends(), backends()
    await one.put("k", b"answer", 60)
    assert await two.get("k") == b"answer"
    assert two.stats().entries == 1 and two.stats().bytes == 6


async def test_an_entry_past_its_ttl_is_never_returned(backends, clock):
    one = backends()
    await one.put("short", b"a", 10)
    await one.put("long", b"b", 100)
    clock.advance(10.0)
    assert await one.get("short") is None
    assert await one.get("long") == b"b"
    assert one.stats().expirations == 1 and one.stats().entries == 1


async def test_the_least_recently_used_entry_leaves_when_the_entry_limit_is_reached(
        backends, clock):
    one = backends(max_entries=2)
    await one.put("a", b"1", 60)
    clock.advance(1)
    await one.put("b", b"2", 60)
    clock.advance(1)
    assert await one.get("a") == b"1"  # now b is the least recently used
    clock.advance(1)
    await one.put("c", b"3", 60)
    assert await one.get("b") is None
    assert await one.get("a") == b"1" and await one.get("c") == b"3"
    assert one.stats().evictions == 1 and one.stats().entries == 2


async def test_the_byte_limit_holds_and_an_answer_above_it_is_not_stored(backends, clock):
    one = backends(max_bytes=10)
    await one.put("a", b"12345", 60)
    clock.advance(1)
    await one.put("b", b"123456", 60)
    assert await one.get("a") is None
    assert one.stats().bytes == 6
    await one.put("huge", b"x" * 11, 60)
    assert await one.get("huge") is None
    assert one.stats().evictions == 2


async def test_clear_empties_the_route_for_every_process(backends):
    one, two = backends(), backends()
    await one.put("a", b"1", 60)
    await one.put("b", b"2", 60)
    assert await two.clear() == 2
    assert await one.get("a") is None


async def test_with_redis_down_the_process_memory_answers_and_nothing_fails(backends,
                                                                           own_redis):
    one = backends(url=own_redis.url)
    own_redis.stop()
    await one.put("a", b"1", 60)
    assert await one.get("a") == b"1"  # this process's memory
    assert one.link.up is False
    assert one.stats().entries == 1


async def test_a_request_answered_by_one_engine_is_served_from_the_cache_by_another(
        redis_url):
    async with OpenAIUpstream() as up:
        config = fleet_config(redis_url, cache=True, base_url=up.base_url)
        engines = [Engine(config, seed=i) for i in range(2)]
        fleets = [attach(e, config.redis, origin=f"e{i}") for i, e in enumerate(engines)]
        request = ChatRequest(messages=[{"role": "user", "content": "capital of France?"}],
                              model="chat", max_tokens=8, temperature=0)
        first = await engines[0].complete(request, RequestContext(key_id="k"))
        second = await engines[1].complete(request, RequestContext(key_id="k"))
        assert up.served == 1
        assert second.record.cache is not None
        assert second.response.content == first.response.content
        for e, f in zip(engines, fleets, strict=True):
            await e.aclose()
            await f.aclose()
