"""A real gateway with [redis]: /readyz, the heartbeat, the snapshot and the event log say
when Redis is away; requests are served all along."""

from __future__ import annotations

import asyncio

import httpx

from axtui.config import KeyConfig
from axtui.snapshot.build import build_snapshot
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fleet_redis.configs import fleet_config
from tests.gateway.harness import start_gateway, stop_gateway, until

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}



async def test_readyz_heartbeat_snapshot_and_events_say_when_redis_is_away(own_redis, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'axtui.db'}"
    async with OpenAIUpstream() as up:
        config = fleet_config(own_redis.url, key_rpm=1000, base_url=up.base_url,
                              max_backoff_s=0.1)
        config = config.model_copy(update={"store": config.store.model_copy(
            update={"recorder": "thread"})})
        served = await start_gateway(config, store_url)
        host = served.gateway.services.host
        try:
            async with httpx.AsyncClient(base_url=served.url) as http:
                async def up() -> bool:  # a loaded machine may miss the first call's timeout
                    return (await http.get("/readyz")).json()["redis"]["state"] == "up"

                await until(up, "the link to Redis")
                ready = (await http.get("/readyz")).json()
                assert ready["status"] == "ready" and ready["degraded"] == []

                await asyncio.to_thread(own_redis.stop)
                r = await http.post("/v1/chat/completions", json=CHAT)
                assert r.status_code == 200  # served, counted in this process

                async def noticed() -> bool:  # at the next call or poll
                    return (await http.get("/readyz")).json()["redis"]["state"] == "down"

                await until(noticed, "the link to notice")
                r = await http.get("/readyz")
                assert r.status_code == 200 and r.json()["status"] == "ready"
                assert r.json()["degraded"][0].startswith(
                    f"redis {own_redis.url} down: counting in this process")

                await host.publish_status()
                snap = await asyncio.to_thread(build_snapshot, host.store, config)
                assert any("redis" in p and "down: counting in this process" in p
                           for p in snap.problems)

                async def logged() -> bool:
                    events = await asyncio.to_thread(host.store.events, kind="redis")
                    return any(e.detail["state"] == "down" for e in events)

                await until(logged, "the warning event")
                [event] = await asyncio.to_thread(host.store.events, kind="redis")
                assert event.detail["level"] == "warning"

                await asyncio.to_thread(own_redis.launch)

                await until(up, "the poll to find Redis again")
                r = await http.post("/v1/chat/completions", json=CHAT)
                assert r.status_code == 200
        finally:
            await stop_gateway(served)


async def test_a_gateway_key_rpm_holds_across_two_gateways(redis_url, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'axtui.db'}"
    async with OpenAIUpstream() as up:
        config = fleet_config(redis_url, base_url=up.base_url)
        config = config.model_copy(update={
            "store": config.store.model_copy(update={"recorder": "thread"}),
            "keys": [KeyConfig(name="team", key_env="TEAM_KEY", rpm=3)]})
        env = {"TEAM_KEY": "sk-team-secret"}
        gateways = [await start_gateway(config, store_url, environ=env) for _ in range(2)]
        auth = {"Authorization": "Bearer sk-team-secret"}
        try:
            statuses = []
            for i in range(4):
                async with httpx.AsyncClient(base_url=gateways[i % 2].url) as http:
                    r = await http.post("/v1/chat/completions", json=CHAT, headers=auth)
                    statuses.append(r.status_code)
            assert statuses == [200, 200, 200, 429]
            assert "key team rate limit: 3 requests per minute" in r.text
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
        finally:
            for served in gateways:
                await stop_gateway(served)
