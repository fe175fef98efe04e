"""A store of N records spread over 30 days with a daily shape, for the cost benchmarks.

    python bench/costs_store.py PATH [--n 1000000] [--seed 7]

Records go in through the real Recorder. Each carries a user, a key, a complexity and an
optimal cost, so every cost grouping has something to group.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.records import Attempt, Outcome, RequestRecord, Usage  # noqa: E402
from axtui.store import Recorder, open_store  # noqa: E402

T0 = 1_764_547_200.0  # 2025-12-01T00:00:00Z
SPAN_S = 30 * 86_400.0
# deployment -> (nano-dollars per prompt token, per completion token) = $ per Mtok x 1000
PRICES = {
    "openai/gpt-4o-mini": (150, 600),
    "openai/gpt-4o": (2500, 10_000),
    "anthropic/claude-3-5-haiku": (800, 4000),
    "anthropic/claude-sonnet-4": (3000, 15_000),
    "groq/llama-3.1-8b": (50, 80),
    "mistral/mistral-small": (100, 300),
}
ROUTES = {
    "chat": ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "mistral/mistral-small",
             "groq/llama-3.1-8b"],
    "chat-large": ["openai/gpt-4o", "anthropic/claude-sonnet-4"],
}
COMPLEXITY = ["simple"] * 6 + ["medium"] * 3 + ["complex"]


def cost(dep: str, prompt: int, completion: int) -> int:
    pin, pout = PRICES[dep]
    return prompt * pin + completion * pout


def records(n: int, seed: int):
    rng = random.Random(seed)
    step = SPAN_S / n
    for i in range(n):
        t = T0 + i * step
        hour = (t % 86_400) / 3600
        if rng.random() > 0.6 + 0.4 * math.sin(math.pi * hour / 24):  # a daily shape
            t += rng.uniform(-step, step)
        route = "chat" if rng.random() < 0.8 else "chat-large"
        deps = ROUTES[route]
        dep = deps[0] if rng.random() < 0.7 else rng.choice(deps)
        prompt, completion = rng.randint(50, 3000), rng.randint(10, 600)
        c = cost(dep, prompt, completion)
        best = min(cost(d, prompt, completion) for d in deps)
        failed = rng.random() < 0.01
        usage = None if failed else Usage(prompt_tokens=prompt, completion_tokens=completion)
        lat = rng.lognormvariate(6.2, 0.6)
        yield RequestRecord(
            id=f"req_{seed}_{i:09d}", started_at=t, ended_at=t + lat / 1000, route=route,
            requested_route=route, user=f"user-{rng.randrange(500)}",
            key_id=f"key-{rng.randrange(40):04x}", complexity=rng.choice(COMPLEXITY),
            attempts=[Attempt(deployment=dep, started_at=t, latency_ms=lat,
                              status=500 if failed else 200, usage=usage,
                              cost_nano=0 if failed else c)],
            outcome=Outcome.failed if failed else Outcome.ok, status=502 if failed else 200,
            deployment=None if failed else dep, usage=usage, latency_ms=lat,
            cost_nano=0 if failed else c, optimal_cost_nano=None if failed else best,
            reason="bench",
        )


def build(path: Path, n: int, seed: int = 7) -> Path:
    """Fill a new store at `path` (reused as is when it already holds n records)."""
    if path.exists():
        store = open_store(f"sqlite:///{path}")
        have = store.counter("recorder.written")
        store.close()
        if have == n:
            return path
        path.unlink()
    store = open_store(f"sqlite:///{path}")
    recorder = Recorder(store)
    for k, r in enumerate(records(n, seed)):
        if k % 10_000 == 0:
            while recorder.stats().queued > 50_000:  # back off instead of overflowing
                time.sleep(0.005)
        recorder.submit(r)
    recorder.close()
    store.close()
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("path", type=Path)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    t = time.perf_counter()
    build(a.path, a.n, a.seed)
    print(f"{a.n:,} records in {time.perf_counter() - t:.1f}s at {a.path}")
