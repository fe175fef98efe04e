"""A long-running agent as a user would write one, run as its own process by the kill test:
`python -m tests.agents.worker STORE_URL ITEMS`. It works through ITEMS items, one call
each, keeping the items done in its state; started again after a crash it carries on from
its last checkpoint. Prints one JSON line when it starts and one when it ends."""

from __future__ import annotations

import asyncio
import sys

import orjson

from axtui.agents import Agent
from axtui.config import parse_config
from axtui.providers.base import ChatRequest
from axtui.runtime.host import RuntimeHost

CONFIG = {
    "providers": {"s": {"protocol": "sim",
                        "sim": {"latency_p50_ms": 20, "latency_p95_ms": 30, "seed": 5}}},
    "deployments": [{"provider": "s", "model": "small-model",
                     "price": {"input": "1", "output": "2"}}],
    "routes": {"cheap": {"candidates": ["s/small-model"]}},
    "store": {"recorder": "thread", "flush_interval_s": 0.05},
}


def say(**fields) -> None:
    sys.stdout.write(orjson.dumps(fields).decode() + "\n")
    sys.stdout.flush()


async def main(url: str, items: int) -> None:
    cfg = parse_config(CONFIG, "worker.toml")
    async with RuntimeHost(cfg, face="agent", store_url=url, heartbeat_s=None) as host:
        agent = Agent(host.engine, host.store, "worker", state={"done": []},
                      checkpoint_every_s=0.5, heartbeat_s=0.5)
        async with agent:
            r = agent.resumed
            say(event="start", run=agent.run, first=len(agent.state["done"]),
                resumed=None if r is None else {
                    "step": r.step, "cost_nano": r.cost_nano, "recovered": r.recovered_steps,
                    "recovered_cost_nano": r.recovered_cost_nano, "was": r.previous_status})
            done = agent.state["done"]
            for i in range(len(done), items):
                await agent.complete(ChatRequest(
                    messages=[{"role": "user", "content": f"item {i}"}], model="cheap"))
                done.append(i)
                agent.progress = len(done) / items
        say(event="end", status=agent.status, steps=agent.steps, cost_nano=agent.cost_nano,
            done=agent.state["done"])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
