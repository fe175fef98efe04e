"""Engine path throughput: requests through Engine.complete() with sim providers on a
virtual clock, every record submitted to a recorder writing a SQLite file.

Three figures from one run, side by side (other loads on the machine move them all alike):
the recorder off, the thread recorder (prepares and writes in this process), and the
process recorder (this process only serializes and hands off; a child writes).

Target: >= 20,000 requests/s with recording on (issue 2).
Run: python bench/bench_engine.py [N] [--rounds R] [--profile]
  --rounds R   alternate the three modes R times; report each mode's best round
  --profile    also profile one process-recorder run; print the top costs per request
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.clock import VirtualClock  # noqa: E402
from axtui.config import parse_config  # noqa: E402
from axtui.engine.engine import Engine, RoutingError  # noqa: E402
from axtui.heap import tune_gc  # noqa: E402
from axtui.providers.base import ChatRequest  # noqa: E402
from axtui.store.db import open_store  # noqa: E402
from axtui.store.ingest import WRITTEN_COUNTER  # noqa: E402
from axtui.store.process_recorder import ProcessRecorder  # noqa: E402
from axtui.store.recorder import Recorder  # noqa: E402

TARGET = 20_000
CONCURRENCY = 200
MODES = ("off", "thread", "process")
LABELS = {"off": "recorder off", "thread": "thread recorder", "process": "process recorder"}


def config():
    fast = {"latency_p50_ms": 200, "latency_p95_ms": 600, "ttft_ms": 50, "errors": {"server": 0.01}}
    providers = {f"p{i}": {"protocol": "sim", "sim": {**fast, "seed": i}} for i in range(4)}
    deployments = [{"provider": f"p{i}", "model": "gpt-4o-mini"} for i in range(4)]
    routes = {
        "chat": {
            "candidates": [f"p{i}/gpt-4o-mini" for i in range(4)],
            "strategy": "cost",
            "max_attempts": 3,
        }
    }
    return parse_config({"providers": providers, "deployments": deployments, "routes": routes})


def run(n: int, concurrency: int, recorder: Recorder | ProcessRecorder | None) -> tuple[float, int]:
    clock = VirtualClock()
    engine = Engine(config(), clock=clock, seed=1)
    if recorder is not None:
        engine.on_record(recorder.submit)
    tune_gc()  # as `axtui serve` does once set up (see axtui/heap.py)
    failed = 0

    async def worker(count: int) -> None:
        nonlocal failed
        for i in range(count):
            req = ChatRequest(
                messages=[{"role": "user", "content": f"hello number {i}"}],
                model="chat",
                max_tokens=64,
                user=f"u{i % 100}",
            )
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


def cpu_s() -> float:
    """CPU time of this process, all threads: what the engine's interpreter spent."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_cpu_s(pid: int | None) -> float | None:
    """CPU time of a live child, from /proc (Linux); None where that is not readable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Result:
    def __init__(self, mode: str, n: int, elapsed: float, total: float, cpu: float, **kw):
        self.mode, self.n, self.elapsed, self.total, self.cpu = mode, n, elapsed, total, cpu
        self.failed = kw.get("failed", 0)
        self.written = kw.get("written")
        self.dropped = kw.get("dropped")
        self.counter = kw.get("counter")
        self.child_cpu = kw.get("child_cpu")

    @property
    def rps(self) -> float:
        return self.n / self.elapsed


def measure(mode: str, n: int, workdir: Path, round_: int) -> Result:
    if mode == "off":
        cpu0 = cpu_s()
        elapsed, failed = run(n, CONCURRENCY, None)
        return Result(mode, n, elapsed, elapsed, cpu_s() - cpu0, failed=failed)
    url = f"sqlite:///{workdir / f'{mode}-{round_}.db'}"
    store = open_store(url)
    recorder: Recorder | ProcessRecorder
    if mode == "thread":
        recorder = Recorder(store, queue_max=max(100_000, n))
    else:
        recorder = ProcessRecorder(url, queue_max=max(100_000, n))
        if not recorder.ready(timeout=30):
            raise SystemExit(f"process recorder did not start: {recorder.stats().last_error}")
    pid = recorder.pid if isinstance(recorder, ProcessRecorder) else None
    child0 = child_cpu_s(pid)
    cpu0 = cpu_s()
    t = time.perf_counter()
    elapsed, failed = run(n, CONCURRENCY, recorder)
    cpu = cpu_s() - cpu0
    recorder.flush()
    child1 = child_cpu_s(pid)
    recorder.close()
    total = time.perf_counter() - t
    stats = recorder.stats()
    counter = store.counter(WRITTEN_COUNTER)
    store.close()
    child_cpu = None if child0 is None or child1 is None else child1 - child0
    return Result(
        mode, n, elapsed, total, cpu, failed=failed, child_cpu=child_cpu,
        written=stats.written, dropped=stats.dropped, counter=counter,
    )  # fmt: skip


def verdict(rps: float) -> str:
    return f"(target >= {TARGET:,}) {'PASS' if rps >= TARGET else 'MISS'}"


def report(best: dict[str, Result], n: int, rounds: int) -> None:
    print(
        f"engine: {n:,} requests, {CONCURRENCY} concurrent, 4 sim deployments, virtual clock"
        + (f"; best of {rounds} alternating rounds" if rounds > 1 else "")
    )
    for mode in MODES:
        r = best[mode]
        line = f"  {LABELS[mode] + ':':18s} {r.rps:>8,.0f} requests/s {verdict(r.rps)}"
        if mode != "off":
            line += (
                f"; with the final flush {n / r.total:,.0f}/s; written {r.written:,},"
                f" dropped {r.dropped:,}, store counter {r.counter:,}"
            )
        print(line)
    print("  CPU per request (less noisy than wall time when others load the cores):")
    for mode in MODES:
        r = best[mode]
        line = f"    {LABELS[mode] + ':':18s} engine process {r.cpu / n * 1e6:6.1f} µs"
        if r.child_cpu is not None:
            line += f", recorder process {r.child_cpu / n * 1e6:.1f} µs"
        print(line)
    off = best["off"].rps
    for mode in ("thread", "process"):
        r = best[mode]
        cost_us = (1 / r.rps - 1 / off) * 1e6
        print(
            f"  {LABELS[mode]}: {r.rps / off:.0%} of recorder-off throughput, "
            f"{cost_us:+.1f} µs per request; {r.rps / TARGET:.0%} of the target"
        )


def profile(n: int, workdir: Path, top: int = 25) -> None:
    """Profile the engine process with the process recorder: top costs per request."""
    url = f"sqlite:///{workdir / 'profile.db'}"
    recorder = ProcessRecorder(url, queue_max=max(100_000, n))
    recorder.ready(timeout=30)
    prof = cProfile.Profile()
    prof.enable()
    run(n, CONCURRENCY, recorder)
    prof.disable()
    recorder.close()
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # tottime
    total = sum(v[2] for _, v in rows)
    print(f"profile (process recorder, {n:,} requests; cProfile inflates all costs):")
    print(f"  total {total / n * 1e6:.1f} µs per request (own time, all functions)")
    print(f"  {'own µs/req':>10s} {'share':>6s} {'cum µs/req':>10s} {'calls/req':>9s}  function")
    submit = [kv for kv in rows if kv[0][2] == "submit" and kv[0][0].endswith("recorder.py")]
    for (file, line, name), (_cc, calls, tottime, cumtime, _) in rows[:top] + submit:
        where = f"{Path(file).name}:{line}" if line else file
        print(
            f"  {tottime / n * 1e6:10.2f} {tottime / total:6.1%} {cumtime / n * 1e6:10.2f} "
            f"{calls / n:9.2f}  {name} ({where})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    best: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as d:
        workdir = Path(d)
        run(2_000, CONCURRENCY, None)  # warm-up
        for round_ in range(args.rounds):
            for mode in MODES:
                r = measure(mode, args.n, workdir, round_)
                if mode not in best or r.rps > best[mode].rps:
                    best[mode] = r
        report(best, args.n, args.rounds)
        if args.profile:
            profile(args.n, workdir)


if __name__ == "__main__":
    main()
