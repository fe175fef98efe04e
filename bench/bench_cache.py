"""The response cache's own costs, each beside its target:

  [1] a hit through Engine.complete (key, lookup, record) against a route without a cache
      (the cheapest path a request can take through the engine)
  [2] a semantic lookup (embed the last turn, narrow, compare) in one partition of N stored
      turns: a shared FAQ route, the worst case for the index
  [3] memory per stored semantic turn

Targets: [1] a hit costs <= 1.5x a cache-less request's engine CPU (a hit skips the
upstream: anything near that is a win); [2] <= 2 ms at 10,000 turns (embedding the query
included); [3] <= 4.5 KB a turn.
Run: python bench/bench_cache.py [--n 10000] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.cache.embed import NgramEmbedder  # noqa: E402
from axtui.cache.semantic import SemanticIndex  # noqa: E402
from axtui.clock import VirtualClock  # noqa: E402
from axtui.config import parse_config  # noqa: E402
from axtui.engine.engine import Engine  # noqa: E402
from axtui.providers.base import ChatRequest  # noqa: E402

HIT_RATIO_TARGET = 1.5
SEMANTIC_MS_TARGET = 2.0
BYTES_PER_TURN_TARGET = 4608
CITIES = ["Paris", "Lyon", "Nantes", "Lille", "Nice", "Brest", "Dijon", "Metz"]

CONFIG = {
    "providers": {"p": {"protocol": "sim", "sim": {"latency_p50_ms": 1, "latency_p95_ms": 2,
                                                   "ttft_ms": 1}}},
    "deployments": [{"provider": "p", "model": "gpt-4o-mini"}],
    "routes": {"plain": {"candidates": ["p/gpt-4o-mini"]},
               "cached": {"candidates": ["p/gpt-4o-mini"], "cache": {}}},
}


def question(i: int) -> str:
    return f"What is the status of order {i * 7919 % 100000} shipped to {CITIES[i % 8]}?"


def engine_cpu_per_request(route: str, n: int) -> float:
    """Engine CPU (µs) per request on `route`, the same request every time (on `cached`:
    one miss, then hits)."""
    clock = VirtualClock()
    engine = Engine(parse_config(copy.deepcopy(CONFIG), "bench"), clock=clock, seed=1)

    def ask() -> ChatRequest:
        return ChatRequest(model=route, temperature=0.0, max_tokens=64, messages=[
            {"role": "system", "content": "You answer customers' questions about orders."},
            {"role": "user", "content": question(1)}])

    async def run() -> float:
        await engine.complete(ask())
        t = time.process_time()
        for _ in range(n):
            await engine.complete(ask())
        return (time.process_time() - t) / n * 1e6

    return clock.run(run())


def semantic(n: int) -> tuple[float, float]:
    """(ms per lookup, bytes per stored turn) with `n` turns in one partition."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = SemanticIndex(NgramEmbedder(), VirtualClock(), threshold=0.85, max_entries=n)
    embed = index.embedder.embed
    after_df = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        index.add("p", f"k{i}", embed(question(i)), ttl_s=3600)
    per_turn = (tracemalloc.get_traced_memory()[0] - after_df) / n
    tracemalloc.stop()
    del before
    queries = [question(i).removeprefix("What is the ").lower() for i in range(1, n, n // 50)]
    timings = []
    for _ in range(2):  # cold: stored turns' norms refreshed for the grown cache; then warm
        t = time.perf_counter()
        found = sum(index.find("p", embed(q)) is not None for q in queries)
        timings.append((time.perf_counter() - t) / len(queries) * 1000)
        if found != len(queries):
            print(f"    (warning: {len(queries) - found} of {len(queries)} rewordings not found)")
    return timings, per_turn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000, help="stored turns for [2] and [3]")
    ap.add_argument("--requests", type=int, default=20_000, help="requests for [1]")
    args = ap.parse_args()
    asyncio.set_event_loop_policy(None)
    plain = engine_cpu_per_request("plain", args.requests)
    hit = engine_cpu_per_request("cached", args.requests)
    ok = "ok" if hit <= HIT_RATIO_TARGET * plain else "MISSED"
    print(f"[1] engine CPU per request: no cache {plain:.1f} µs (a sim upstream), "
          f"exact hit {hit:.1f} µs: {hit / plain:.2f}x (target <= {HIT_RATIO_TARGET}x) {ok}")
    (cold, ms), per_turn = semantic(args.n)
    ok = "ok" if ms <= SEMANTIC_MS_TARGET else "MISSED"
    print(f"[2] semantic lookup, {args.n:,} turns in one partition: {ms:.2f} ms "
          f"(target <= {SEMANTIC_MS_TARGET} ms) {ok}; cold {cold:.2f} ms (the candidates' "
          f"norms refreshed for a cache that grew)")
    ok = "ok" if per_turn <= BYTES_PER_TURN_TARGET else "MISSED"
    print(f"[3] memory per stored turn: {per_turn:,.0f} B (target <= "
          f"{BYTES_PER_TURN_TARGET:,} B; plus 4 MiB of n-gram counts per route) {ok}")


if __name__ == "__main__":
    main()
