"""Engine path throughput: requests through Engine.complete() with sim providers on a
virtual clock, every record submitted to the recorder writing a SQLite file.

Target: >= 20,000 requests/s (issue 2). Run: python bench/bench_engine.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from axtui.clock import VirtualClock
from axtui.config import parse_config
from axtui.engine.engine import Engine, RoutingError
from axtui.providers.base import ChatRequest
from axtui.store.db import open_store
from axtui.store.recorder import Recorder

TARGET = 20_000


def config():
    fast = {"latency_p50_ms": 200, "latency_p95_ms": 600, "ttft_ms": 50,
            "errors": {"server": 0.01}}
    providers = {f"p{i}": {"protocol": "sim", "sim": {**fast, "seed": i}} for i in range(4)}
    deployments = [{"provider": f"p{i}", "model": "gpt-4o-mini"} for i in range(4)]
    routes = {"chat": {"candidates": [f"p{i}/gpt-4o-mini" for i in range(4)],
                       "strategy": "cost", "max_attempts": 3}}
    return parse_config({"providers": providers, "deployments": deployments, "routes": routes})


def run(n: int, concurrency: int, recorder: Recorder | None) -> tuple[float, int]:
    clock = VirtualClock()
    engine = Engine(config(), clock=clock, seed=1)
    if recorder is not None:
        engine.on_record(recorder.submit)
    failed = 0

    async def worker(count: int) -> None:
        nonlocal failed
        for i in range(count):
            req = ChatRequest(messages=[{"role": "user", "content": f"hello number {i}"}],
                              model="chat", max_tokens=64, user=f"u{i % 100}")
            try:
                await engine.complete(req)
            except RoutingError:
                failed += 1

    async def main() -> None:
        per = n // concurrency
        await asyncio.gather(*(worker(per) for _ in range(concurrency)))

    t = time.perf_counter()
    clock.run(main())
    return time.perf_counter() - t, failed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    concurrency = 200
    with tempfile.TemporaryDirectory() as d:
        run(2_000, concurrency, None)  # warm-up
        bare, _ = run(n, concurrency, None)
        store = open_store(f"sqlite:///{Path(d) / 'bench.db'}")
        recorder = Recorder(store, queue_max=max(100_000, n))
        t = time.perf_counter()
        elapsed, failed = run(n, concurrency, recorder)
        recorder.close()
        total = time.perf_counter() - t
        stats = recorder.stats()
        rows = store.counter("records_written") if hasattr(store, "counter") else None
    rps = n / elapsed
    print(f"engine, recorder off: {n / bare:,.0f} requests/s ({n:,} requests, {concurrency} "
          "concurrent, 4 sim deployments, virtual clock)")
    print(f"engine, recorder on:  {rps:,.0f} requests/s (target >= {TARGET:,}) "
          f"{'PASS' if rps >= TARGET else 'MISS'}")
    print(f"  including the final flush: {n / total:,.0f} requests/s; written {stats.written:,},"
          f" dropped {stats.dropped:,}, failed requests {failed:,}, store counter {rows}")


if __name__ == "__main__":
    main()
