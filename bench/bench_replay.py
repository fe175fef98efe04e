"""Replay throughput and memory: faithful and counterfactual `axtui replay --speed max`.

    python bench/bench_replay.py [--lines 200000] [--cf-lines 20000] [--rate 200]
                                 [--legacy] [--writers rollups,thread,inline,child] [--rounds 2]

Builds a dense trace by cycling the bundled normal-day trace's records (times shifted so
the trace runs on, compressed to `--rate` requests/s of trace time), each line as today's
RequestRecord writes it (what `serve --trace-out` writes; `--legacy`: as the bundled trace
has them, from an axtui before `face`, `cache` and `kind`, so every line is filled in),
then runs each mode in a child process (`axtui replay TRACE --json`) and prints records/s
and the child's peak RSS beside the targets: the replay process's own, and its process
tree's (sampled every 50 ms, pages both map counted in each; the `child` writer is a
process of its own). Memory is flat when peak RSS does not grow with the trace:
`--lines 1000000 --cf-lines 0` and `--lines 100000 --cf-lines 0` should print about the
same figures.

Faithful runs go once per writer (AXTUI_REPLAY_WRITER, writer.py) and round, alternating,
so a machine's load falls on each alike. `rollups`, the default, is what a headless replay
does (its scratch store gets rollups, not rows); `thread`, `inline` and `child` also write
every record's row, as a replay a console follows does. Each is shown whole (the figure set against the
target) and net of the process's start (a 1-record replay's wall time: imports, config,
store creation), with its CPU seconds per record.

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


def make_trace(path: Path, lines: int, rate: float, legacy: bool = False) -> None:
    """`lines` records at `rate` per second of trace time, cycled from normal-day."""
    from axtui.records import RequestRecord
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
                line = (orjson.dumps(r2) if legacy
                        else RequestRecord.model_validate(r2).model_dump_json().encode())
                out.write(line + b"\n")
                written += 1
            cycle += 1


# a fresh wrapper per run: RUSAGE_CHILDREN's peak is the largest child a process ever had.
# The faithful replay writes from a child process (the process recorder, forked from a
# forkserver): the wrapper also samples the RSS of the whole process tree every 50 ms.
_WRAP = """
import os, resource, subprocess, sys, threading, time

def tree_rss(root):
    pids, total = [root], 0
    while pids:
        pid = pids.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pids += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return total

t = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                        text=True)
peak = [0]
def sample():
    while proc.poll() is None:
        peak[0] = max(peak[0], tree_rss(proc.pid))
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
err = proc.stderr.read()
proc.wait()
wall = time.perf_counter() - t
sys.stderr.write(err)
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, use.ru_maxrss, peak[0], proc.returncode, use.ru_utime + use.ru_stime)
"""


def run(trace: Path, *args: str, writer: str | None = None
        ) -> tuple[float, float, float, int, float]:
    """(wall seconds, the replay process's peak RSS in MiB, its process tree's sampled peak
    RSS in MiB, exit code, CPU seconds) of one `axtui replay`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if writer:
        env["AXTUI_REPLAY_WRITER"] = writer
    done = subprocess.run([sys.executable, "-c", _WRAP, sys.executable, "-m",
                           "axtui.cli.main", "replay", str(trace), "--json", *args],
                          env=env, capture_output=True, text=True)
    wall, rss_kib, tree_kib, code, cpu = done.stdout.split()
    if int(code) not in (0, 1):
        sys.exit(f"replay failed ({code}): {done.stderr.strip()}")
    return float(wall), int(rss_kib) / 1024, int(tree_kib) / 1024, int(code), float(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000, help="faithful trace length")
    ap.add_argument("--cf-lines", type=int, default=20_000, help="counterfactual length "
                    "(0: faithful only)")
    ap.add_argument("--rate", type=float, default=200.0, help="requests/s of trace time")
    ap.add_argument("--legacy", action="store_true", help="lines from an older axtui")
    ap.add_argument("--writers", default="rollups", help="faithful writers to run, "
                    "comma-separated: rollups (a headless replay's, the default), and the "
                    "writers of rows a console's store gets: thread, inline, child")
    ap.add_argument("--rounds", type=int, default=1, help="faithful runs per writer")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cf_trace, trace = Path(tmp) / "cf.jsonl", Path(tmp) / "faithful.jsonl"
        one = Path(tmp) / "one.jsonl"
        make_trace(cf_trace, a.cf_lines, a.rate, a.legacy)
        make_trace(trace, a.lines, a.rate, a.legacy)
        make_trace(one, 1, a.rate, a.legacy)
        size = trace.stat().st_size / 2**20
        if a.cf_lines:
            wall, rss, tree, _, cpu = run(cf_trace, "--mode", "counterfactual")
            base, _, _, _, base_cpu = run(cf_trace)  # the same trace's faithful pass alone
            cf_wall, cf_cpu = max(wall - base, 1e-9), max(cpu - base_cpu, 1e-9)
            print(f"counterfactual  {a.cf_lines:>9,} requests  {wall:6.1f}s  "
                  f"{a.cf_lines / cf_wall:>9,.0f} requests/s  (target {TARGET_CF:,})  "
                  f"peak RSS {rss:.0f} MiB, tree {tree:.0f} MiB\n"
                  f"                the counterfactual pass: {cf_wall:.1f}s of the run's "
                  f"{wall:.1f}s (the rest measures the recorded side: {base:.1f}s), "
                  f"{cf_cpu:.1f} CPU s ({a.cf_lines / cf_cpu:,.0f} requests a CPU second); "
                  f"whole run {a.cf_lines / wall:,.0f} requests/s")
        print(f"faithful: {a.lines:,} records, trace {size:.0f} MiB uncompressed, "
              f"{'legacy' if a.legacy else 'current'} lines; target {TARGET_FAITHFUL:,} "
              f"records/s")
        for _ in range(a.rounds):
            for writer in a.writers.split(","):
                start, _, _, _, start_cpu = run(one, writer=writer)
                wall, rss, tree, _, cpu = run(trace, writer=writer)
                net = max(wall - start, 1e-9)
                print(f"  writer {writer:<6}  {wall:6.1f}s  {a.lines / wall:>9,.0f} records/s"
                      f"  net of start ({start:.1f}s): {a.lines / net:>9,.0f} records/s, "
                      f"{(cpu - start_cpu) / a.lines * 1e6:5.1f} CPU us/record  "
                      f"peak RSS {rss:.0f} MiB, tree {tree:.0f} MiB")


if __name__ == "__main__":
    main()
