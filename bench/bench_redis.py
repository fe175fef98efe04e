"""What `[redis]` adds to each request: one engine, requests one after another (concurrency
1) through Engine.complete() with sim providers on a virtual clock, so the wall time per
request is the engine's own work plus its Redis round trips. Caller quotas (rpm, tpm and
spend per key) and each deployment's rpm/tpm are on, so every shared counter is used: an
admit (1 round trip), a headroom take and its token correction (1-2), a post-paid record
(1). Prints the per-request time without and with Redis, the difference, and the round
trips per request.

    python bench/bench_redis.py [--n 3000] [--rounds 3] [--url redis://127.0.0.1:6379/0]

Without --url it starts a redis-server of its own (tests/servers/redis.py) on loopback.
Target (stated, issue 13): added latency per request <= 0.5 ms on loopback.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.clock import VirtualClock  # noqa: E402
from axtui.config import parse_config  # noqa: E402
from axtui.engine.engine import Engine, RequestContext  # noqa: E402
from axtui.fleet.fleet import attach  # noqa: E402
from axtui.providers.base import ChatRequest  # noqa: E402

TARGET_ADDED_MS = 0.5


def config(url: str | None):
    fast = {"latency_p50_ms": 200, "latency_p95_ms": 400, "ttft_ms": 50, "errors": {}}
    providers = {f"p{i}": {"protocol": "sim", "sim": {**fast, "seed": i}} for i in range(2)}
    deployments = [{"provider": f"p{i}", "model": "gpt-4o-mini", "rpm": 1_000_000,
                    "tpm": 1_000_000_000} for i in range(2)]
    limits = {"rpm": 1_000_000, "tpm": 1_000_000_000, "spend_day_usd": "1000000"}
    return parse_config({
        "providers": providers, "deployments": deployments,
        "routes": {"chat": {"candidates": [d["provider"] + "/gpt-4o-mini" for d in deployments],
                            "strategy": "cost"}},
        "quotas": {"per_key": limits, "per_user": limits},
        # a prefix per run: each run's virtual clock starts at the same epoch again
        "redis": {"url": url, "prefix": f"bench-{os.urandom(4).hex()}"},
    })


def run(n: int, url: str | None) -> tuple[list[float], int, int, float]:
    """Per-request wall times (seconds), how many failed, Redis round trips, and this
    process's CPU seconds per request (what the client side costs, without the waiting)."""
    clock = VirtualClock()
    cfg = config(url)
    engine = Engine(cfg, clock=clock, seed=1)
    fleet = attach(engine, cfg.redis, origin="bench") if url else None
    times: list[float] = []
    failed = 0
    ctx = RequestContext(key_id="bench-key", user="bench-user")

    async def main() -> None:
        nonlocal failed
        for i in range(n):
            req = ChatRequest(messages=[{"role": "user", "content": f"hello number {i}"}],
                              model="chat", max_tokens=64)
            t = time.perf_counter()
            try:
                await engine.complete(req, ctx)
            except Exception as e:  # counted and reported, never hidden
                if not failed:
                    print(f"first failure: {type(e).__name__}: {e}", file=sys.stderr)
                failed += 1
            times.append(time.perf_counter() - t)
        if fleet is not None:
            await fleet.aclose()

    cpu = time.process_time()
    clock.run(main())
    cpu = (time.process_time() - cpu) / n
    if fleet is None:
        return times, failed, 0, cpu
    return times, failed + fleet.link.failed_calls, fleet.link.calls, cpu


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--url", default=None)
    args = ap.parse_args()
    server = None
    url = args.url
    if url is None:
        from tests.servers.redis import RedisServer

        server = RedisServer.start()
        url = server.url
    try:
        best: dict[str, list[float]] = {}
        cpu_best: dict[str, float] = {}
        trips = 0.0
        for _ in range(args.rounds):  # alternate, keep each mode's best round (by median)
            for mode in ("local", "redis"):
                times, failed, calls, cpu = run(args.n, url if mode == "redis" else None)
                cpu_best[mode] = min(cpu, cpu_best.get(mode, cpu))
                if mode == "redis":
                    trips = calls / args.n
                if failed:
                    print(f"{mode}: {failed} failed requests or Redis calls", file=sys.stderr)
                if mode not in best or statistics.median(times) < statistics.median(best[mode]):
                    best[mode] = times
        print(f"{args.n} sequential requests, best of {args.rounds} rounds "
              "(per request, wall time)")
        print(f"{'':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
        for mode, times in best.items():
            print(f"{mode:>8} {pct(times, 0.5) * 1e3:8.3f} {pct(times, 0.99) * 1e3:8.3f} "
                  f"{statistics.fmean(times) * 1e3:8.3f}")
        added = (statistics.median(best["redis"]) - statistics.median(best["local"])) * 1e3
        added99 = (pct(best["redis"], 0.99) - pct(best["local"], 0.99)) * 1e3
        print(f"added by Redis: p50 {added:.3f} ms, p99 {added99:.3f} ms "
              f"(target p50 <= {TARGET_ADDED_MS} ms) {'OK' if added <= TARGET_ADDED_MS else 'MISS'}")
        print(f"Redis round trips per request: {trips:.2f}")
        print(f"CPU per request in this process: local {cpu_best['local'] * 1e6:.0f} us, "
              f"redis {cpu_best['redis'] * 1e6:.0f} us "
              f"(+{(cpu_best['redis'] - cpu_best['local']) * 1e6:.0f} us: the client's share)")
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    main()
