"""Redis going away mid-load: each process counts alone, says so, and catches up."""

from __future__ import annotations

import asyncio

import redis

from axtui.engine.engine import Engine, RequestContext
from axtui.fleet.fleet import attach
from axtui.providers.base import ChatRequest
from axtui.records import Outcome
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fleet_redis.configs import fleet_config
from tests.gateway.harness import until

REQUESTS = 240



async def test_requests_are_all_answered_while_redis_stops_and_returns(own_redis):
    async with OpenAIUpstream() as up:
        config = fleet_config(own_redis.url, key_rpm=100_000, deployment_rpm=100_000,
                              key_spend_usd="1000", base_url=up.base_url, max_backoff_s=0.2)
        engine = Engine(config, seed=1)
        fleet = attach(engine, config.redis, origin="under-load")
        records, events = [], []
        engine.on_record(records.append)
        engine.on_event(lambda kind, subject, detail: events.append((kind, detail)))
        request = ChatRequest(messages=[{"role": "user", "content": "hi"}], model="chat",
                              max_tokens=8)
        ctx = RequestContext(key_id="k1")
        done, stop = 0, False

        async def client() -> None:
            nonlocal done
            while not stop:
                done += 1
                await engine.complete(request, ctx)

        async def redis_goes_and_returns() -> None:
            nonlocal stop
            phase = REQUESTS // 3
            await until(lambda: done >= phase, "the first third of the load")
            await asyncio.to_thread(own_redis.stop)  # while the clients keep sending
            await until(lambda: not fleet.link.up, "the link to notice")
            gone_at = done
            await until(lambda: done >= gone_at + phase, "a third of the load without Redis")
            await asyncio.to_thread(own_redis.launch)
            while not await fleet.poll():  # the poll is the reconnect probe
                await asyncio.sleep(0.05)
            back_at = done
            await until(lambda: done >= back_at + phase, "a third of the load with it back")
            stop = True

        await asyncio.gather(redis_goes_and_returns(), *(client() for _ in range(4)))
        await engine.aclose()
        await fleet.aclose()

    assert len(records) == done >= REQUESTS
    assert all(r.outcome is Outcome.ok for r in records)
    assert fleet.quotas.local_decisions > 0  # some were admitted while Redis was away
    kinds = [(kind, d["state"], d["level"]) for kind, d in events if kind == "redis"]
    assert kinds == [("redis", "down", "warning"), ("redis", "up", "info")]
    # caught up: the restarted (empty) Redis holds every request's spend of today, not only
    # what was spent after it returned
    client = redis.Redis.from_url(own_redis.url)
    day = int(records[-1].started_at // 86_400)
    shared = sum(int(v) for v in client.hvals(f"axtui:q:key:k1:spend:{day}"))
    client.close()
    assert shared == sum(r.cost_nano or 0 for r in records)


async def test_while_redis_is_down_the_fleet_says_so_and_decides_locally(own_redis):
    config = fleet_config(own_redis.url, key_rpm=2, max_backoff_s=0.2)
    engine = Engine(config, seed=1)
    fleet = attach(engine, config.redis, origin="alone")
    own_redis.stop()
    assert fleet.quotas.check(None, "k1").ok
    assert fleet.quotas.check(None, "k1").ok
    assert not fleet.quotas.check(None, "k1").ok  # the in-process quota, as one process
    assert fleet.link.up is False
    assert fleet.problem().startswith(f"redis {own_redis.url} down: counting in this process")
    assert fleet.status()["state"] == "down"
    assert fleet.status()["local_quota_decisions"] == 3
    await fleet.aclose()
    await engine.aclose()


async def test_a_hung_redis_costs_one_timeout_then_the_process_counts_alone(own_redis):
    import signal
    import time

    config = fleet_config(own_redis.url, key_rpm=100, timeout_s=0.1, max_backoff_s=5.0)
    engine = Engine(config, seed=1)
    fleet = attach(engine, config.redis, origin="hung")
    assert fleet.quotas.check(None, "k").ok
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        t = time.perf_counter()
        assert fleet.quotas.check(None, "k").ok  # waited out the timeout, decided locally
        first = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(50):
            assert fleet.quotas.check(None, "k").ok
        rest = time.perf_counter() - t
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert 0.1 <= first < 1.0
    assert rest < 0.5  # no more waiting on each call: at most a probe or two as backoff allows
    assert fleet.link.status()["state"] == "down"
    assert fleet.link.probe()
    await fleet.aclose()
    await engine.aclose()
