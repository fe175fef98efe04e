"""Console start-up (issue 9): seconds from typing `axtui` to live data on screen.

    python bench/bench_console_start.py [--runs 5]

Each run starts `axtui` (the built-in demo) in a private tmux server at 120x40 and polls
capture-pane until the dashboard is drawn (first frame) and then until the header shows a
request rate above zero (live data: the demo child's records reached the store and a frame
carried them). The median of the runs is printed beside the target:
  live data: <= 2.0 s (median)
The first frame is stated. Exit code 0 when the target passes, 1 when it misses, 2 when the
bench cannot run (no tmux).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_console import Tmux, _descends  # noqa: E402
from harness import Verdicts  # noqa: E402

LIVE_TARGET_S = 2.0
RATE = re.compile(r"LIVE\s+demo\s+([\d.]+)\s*rps")


def descendants(root: int) -> list[int]:
    """`root` and every process below it (the console, the demo's engine, its recorder)."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    return [root] + [p for p in pids if p != root and _descends(p, root)]


def wait_gone(pids: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while any(os.path.exists(f"/proc/{p}") for p in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes still running after {timeout_s:g} s: {pids}")
        time.sleep(0.05)


def one_run(width: int = 120, height: int = 40) -> tuple[float, float]:
    """(first frame, live data) in seconds since the command was typed."""
    tmux = Tmux()
    workdir = tempfile.mkdtemp(prefix="axtui-start-")
    try:
        t0 = time.perf_counter()
        tmux("new-session", "-d", "-s", "console", "-x", str(width), "-y", str(height),
             "-c", workdir, f"{sys.executable} -m axtui.cli.main")
        tmux.wait(lambda s: "Deployments" in s, 30)
        first_s = time.perf_counter() - t0
        tmux.wait(lambda s: (m := RATE.search(s)) is not None and float(m.group(1)) > 0, 30)
        live_s = time.perf_counter() - t0
        tree = descendants(tmux.pane_pid())
        tmux("send-keys", "-t", "console", "q")
        tmux.wait(lambda s: "Deployments" not in s, 15)
        wait_gone(tree, 30)  # the next run must not share the CPU with this one's stopping
        return first_s, live_s
    finally:
        tmux.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    try:
        runs = [one_run() for _ in range(args.runs)]
    except RuntimeError as e:
        print(f"bench_console_start: {e}", file=sys.stderr)
        return 2
    for i, (first, live) in enumerate(runs):
        print(f"  run {i + 1}: first frame {first:.2f} s, live data {live:.2f} s")
    print(f"console start-up, {args.runs} runs (median):")
    print(f"    first frame: {statistics.median(f for f, _ in runs):.2f} s (stated)")
    v = Verdicts()
    v.check("live data", statistics.median(live for _, live in runs), LIVE_TARGET_S, "s",
            upper=True)
    return v.summary()


if __name__ == "__main__":
    sys.exit(main())
