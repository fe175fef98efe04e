"""Replay throughput and memory: faithful and counterfactual `axtui replay --speed max`.

    python bench/bench_replay.py [--lines 200000] [--cf-lines 20000] [--rate 200]

Builds a dense trace by cycling the bundled normal-day trace's records (times shifted so
the trace runs on, compressed to `--rate` requests/s of trace time), then runs each mode
in a child process (`axtui replay TRACE --json`) and prints records/s and the child's
peak RSS beside the targets. Memory is flat when peak RSS does not grow with the trace:
`--lines 1000000` and `--lines 100000` should print about the same figure.

A counterfactual run first measures the recorded side (a faithful pass of the same trace):
the requests/s set against its target are the counterfactual pass's alone, i.e. the run's
wall time less that of a faithful run of the same trace (the whole run's figure follows).
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_FAITHFUL = 100_000  # records/s
TARGET_CF = 20_000  # requests/s


def make_trace(path: Path, lines: int, rate: float) -> None:
    """`lines` records at `rate` per second of trace time, cycled from normal-day."""
    from axtui.traces.jsonl import header_line
    from axtui.traces.replay.run import resolve_trace

    with gzip.open(resolve_trace("normal-day"), "rb") as f:
        source = [orjson.loads(x) for x in f.read().splitlines()[1:] if x.strip()]
    t0 = source[0]["started_at"]
    span = max(r["ended_at"] for r in source) - t0
    squeeze = (len(source) / span) / rate  # <1: trace time runs faster than recorded
    with open(path, "wb") as out:
        out.write(header_line(made_by="bench/bench_replay.py", rate=rate).encode() + b"\n")
        written, cycle = 0, 0
        while written < lines:
            base = t0 + cycle * span * squeeze
            for r in source:
                if written >= lines:
                    break
                r2 = dict(r, id=f"{r['id']}-{cycle}")
                shift = lambda t, base=base: base + (t - t0) * squeeze  # noqa: E731
                r2["started_at"], r2["ended_at"] = shift(r["started_at"]), shift(r["ended_at"])
                r2["attempts"] = [dict(a, started_at=shift(a["started_at"]))
                                  for a in r["attempts"]]
                out.write(orjson.dumps(r2) + b"\n")
                written += 1
            cycle += 1


# a fresh wrapper per run: RUSAGE_CHILDREN's peak is the largest child a process ever had
_WRAP = """
import resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
sys.stderr.write(done.stderr)
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, use.ru_maxrss, done.returncode, use.ru_utime + use.ru_stime)
"""


def run(trace: Path, *args: str) -> tuple[float, float, int, float]:
    """(wall seconds, the replay's peak RSS in MiB, exit code, CPU seconds) of one
    `axtui replay`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _WRAP, sys.executable, "-m",
                           "axtui.cli.main", "replay", str(trace), "--json", *args],
                          env=env, capture_output=True, text=True)
    wall, rss_kib, code, cpu = done.stdout.split()
    if int(code) not in (0, 1):
        sys.exit(f"replay failed ({code}): {done.stderr.strip()}")
    return float(wall), int(rss_kib) / 1024, int(code), float(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000, help="faithful trace length")
    ap.add_argument("--cf-lines", type=int, default=20_000, help="counterfactual length")
    ap.add_argument("--rate", type=float, default=200.0, help="requests/s of trace time")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cf_trace, trace = Path(tmp) / "cf.jsonl", Path(tmp) / "faithful.jsonl"
        make_trace(cf_trace, a.cf_lines, a.rate)
        make_trace(trace, a.lines, a.rate)
        size = trace.stat().st_size / 2**20
        wall, rss, _, cpu = run(cf_trace, "--mode", "counterfactual")
        base, _, _, base_cpu = run(cf_trace)  # the same trace's faithful pass alone
        cf_wall, cf_cpu = max(wall - base, 1e-9), max(cpu - base_cpu, 1e-9)
        print(f"counterfactual  {a.cf_lines:>9,} requests  {wall:6.1f}s  "
              f"{a.cf_lines / cf_wall:>9,.0f} requests/s  (target {TARGET_CF:,})  "
              f"peak RSS {rss:.0f} MiB\n"
              f"                the counterfactual pass: {cf_wall:.1f}s of the run's {wall:.1f}s "
              f"(the rest measures the recorded side: {base:.1f}s), {cf_cpu:.1f} CPU s "
              f"({a.cf_lines / cf_cpu:,.0f} requests a CPU second); whole run "
              f"{a.cf_lines / wall:,.0f} requests/s")
        wall, rss, _, _ = run(trace)
        print(f"faithful        {a.lines:>9,} records   {wall:6.1f}s  "
              f"{a.lines / wall:>9,.0f} records/s   (target {TARGET_FAITHFUL:,})  "
              f"peak RSS {rss:.0f} MiB  (trace {size:.0f} MiB uncompressed)")


if __name__ == "__main__":
    main()
