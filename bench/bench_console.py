"""Console benchmark (issue 9): `axtui attach` on the store an `axtui serve` is writing under
load (wrk against the gateway, a 20 ms fake upstream), measured from outside.

    python bench/bench_console.py [--duration 10] [--soak-s 600] [--presses 30]

Targets, each printed beside its figure with PASS/MISS:
  keypress to screen change, measured through tmux (send-keys, then capture-pane until the
  help screen shows or goes), in a separate loaded run: p95 <= 100 ms (the poll adds up
  to ~5 ms a sample; tmux's polling costs CPU, so this run measures nothing else);
  the console's own CPU over a loaded run with nobody typing: <= 30% of one core;
  the gateway's throughput with the console attached (same run): >= 95% of without;
  the gateway fed at >= 500 requests/s while measured;
and the console's RSS over the soak, stated (start, end, max; the soak runs `--soak-s`,
10 minutes for the real figure, shorter for a quick run).
Exit code 0 when every target passes, 1 when one misses, 2 when the bench cannot run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_gateway import UPSTREAM_KEY_ENV, gateway_config, serve_command  # noqa: E402
from harness import (  # noqa: E402
    CpuMeter,
    Processes,
    Verdicts,
    free_port,
    tree_cpu_s,
    wait_http,
)
from loadgen import LoadgenError, ensure_wrk, run_wrk  # noqa: E402

KEY_P95_MS = 100.0
CONSOLE_CORES = 0.30
THROUGHPUT_RATIO = 0.95
MIN_RPS = 500
CONNECTIONS = 24  # with a 20 ms upstream: ~1,000 requests/s of headroom above the target
ROOT = Path(__file__).resolve().parents[1]


class Tmux:
    """A private tmux server (its own socket) holding the console."""

    def __init__(self) -> None:
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux not found: apt-get install -y tmux")
        self.socket = f"axtui-bench-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "console")

    def wait(self, pred, timeout_s: float = 60.0) -> float:
        """Seconds until `pred(screen)` holds (polling capture-pane as fast as it answers)."""
        t0 = time.perf_counter()
        while True:
            if pred(self.screen()):
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout_s:
                raise RuntimeError(f"the console never showed it; screen:\n{self.screen()}")

    def pane_pid(self) -> int:
        return int(self("list-panes", "-t", "console", "-F", "#{pane_pid}").split()[0])

    def kill(self) -> None:
        self("kill-server")


def rss_kb(pid: int) -> int:
    """Resident memory of `pid` and its descendants, from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        if int(entry) != pid and not _descends(int(entry), pid):
            continue
        try:
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
    return total


def _descends(pid: int, root: int) -> bool:
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            return False
        if pid == root:
            return True
    return False


def p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(0.95 * len(s)))]


def keypresses(tmux: Tmux, n: int) -> tuple[list[float], list[float]]:
    """n round trips, ms each: `?` until the help shows; esc until it goes (a bare escape
    waits out Textual's ESCDELAY, 100 ms by default, to tell it from an escape sequence)."""
    opened, closed = [], []
    for _ in range(n):
        tmux("send-keys", "-t", "console", "?")
        opened.append(tmux.wait(lambda s: "remap any by id" in s, 10) * 1000)
        tmux("send-keys", "-t", "console", "Escape")
        closed.append(tmux.wait(lambda s: "remap any by id" not in s, 10) * 1000)
    return sorted(opened), sorted(closed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--soak-s", type=float, default=60.0,
                    help="RSS soak under load (600 for the 10-minute figure)")
    ap.add_argument("--presses", type=int, default=30, help="key round trips to time")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, store)")
    a = ap.parse_args()
    try:
        wrk = ensure_wrk()
    except LoadgenError as e:
        print(f"cannot run: {e}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="axtui-bench-console-"))
    procs, verdicts, tmux = Processes(), Verdicts(), None
    try:
        up_port, gw_port = free_port(), free_port()
        up, gw = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{gw_port}"
        procs.start("upstream", [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port",
                                 str(up_port), "--latency-ms", "20"], tmp / "upstream.log")
        wait_http(f"{up}/stats", procs, 15)
        db = f"sqlite:///{tmp / 'bench.db'}"
        cfg = tmp / "axtui.toml"
        cfg.write_text(gateway_config(up, up, db))
        procs.start("gateway", serve_command(cfg, f"127.0.0.1:{gw_port}", db),
                    tmp / "gateway.log", env={UPSTREAM_KEY_ENV: "sk-bench-dummy"})
        wait_http(f"{gw}/healthz", procs, 60)
        url = f"{gw}/v1/chat/completions"
        print(f"axtui console benchmark: wrk -c{CONNECTIONS} against `axtui serve` (20 ms fake "
              f"upstream), {a.duration:g} s per run, {os.cpu_count()} cores shared; "
              f"logs in {tmp}", flush=True)
        run_wrk(wrk, url, "bench-20ms", connections=CONNECTIONS, duration_s=3)  # warm-up

        alone = run_wrk(wrk, url, "bench-20ms", connections=CONNECTIONS,
                        duration_s=a.duration)
        print(f"without the console: {alone.rps:,.0f} req/s", flush=True)

        tmux = Tmux()
        env = f"PYTHONPATH={ROOT} AXTUI_FORCE_TUI=1"
        tmux("new-session", "-d", "-s", "console", "-x", "120", "-y", "36",
             f"{env} {sys.executable} -m axtui.cli.main attach --store {db} --config {cfg}")
        tmux.wait(lambda s: "fake/gpt-4o-mini" in s and "ATTACHED" in s, 60)
        console_pid = tmux.pane_pid()

        idle, _ = keypresses(tmux, max(3, a.presses // 3))
        print(f"`?` to help shown, no load (stated): median {idle[len(idle) // 2]:.0f} ms, "
              f"max {idle[-1]:.0f} ms", flush=True)
        # steady load, nobody typing: the console's own CPU and the gateway's throughput
        cpu = CpuMeter(console_pid)
        cpu.start()
        attached = run_wrk(wrk, url, "bench-20ms", connections=CONNECTIONS,
                           duration_s=a.duration)
        cpu.stop(0)
        print(f"with the console:    {attached.rps:,.0f} req/s", flush=True)

        # the same load while keys are timed (tmux's polling costs CPU: not measured above)
        load = threading.Thread(target=run_wrk, args=(wrk, url, "bench-20ms"),
                                kwargs={"connections": CONNECTIONS, "duration_s": a.duration})
        load.start()
        time.sleep(1.0)  # let wrk ramp up before timing keys
        keys, escapes = keypresses(tmux, a.presses)
        load.join()
        print(f"`?` to help shown: median {keys[len(keys) // 2]:.0f} ms, max {keys[-1]:.0f} ms;"
              f" esc to help gone (ESCDELAY included): median {escapes[len(escapes) // 2]:.0f}"
              f" ms, p95 {p95(escapes):.0f} ms", flush=True)
        verdicts.check(f"keypress (`?`) to screen change, p95 of {len(keys)}", p95(keys),
                       KEY_P95_MS, "ms", upper=True)
        verdicts.check("console CPU under load", cpu.cores() * 100, CONSOLE_CORES * 100,
                       "% of a core", upper=True)
        verdicts.check(f"gateway throughput attached / alone ({attached.rps:,.0f} / "
                       f"{alone.rps:,.0f})", attached.rps / alone.rps * 100 if alone.rps
                       else 0.0, THROUGHPUT_RATIO * 100, "%", upper=False)
        verdicts.check("gateway fed at", attached.rps, MIN_RPS, "req/s", upper=False)

        print(f"\nsoak: {a.soak_s:g} s under the same load, RSS sampled every second", flush=True)
        samples: list[int] = []
        soak = threading.Thread(target=lambda: run_wrk(
            wrk, url, "bench-20ms", connections=CONNECTIONS, duration_s=a.soak_s))
        soak.start()
        cpu0 = tree_cpu_s(console_pid)
        t0 = time.monotonic()
        while soak.is_alive():
            samples.append(rss_kb(console_pid))
            soak.join(timeout=1.0)
        soak_cores = (tree_cpu_s(console_pid) - cpu0) / max(1e-9, time.monotonic() - t0)
        if samples:
            print(f"console RSS: start {samples[0] / 1024:.1f} MiB, end {samples[-1] / 1024:.1f}"
                  f" MiB, max {max(samples) / 1024:.1f} MiB over {len(samples)} samples; "
                  f"CPU {soak_cores:.0%} of a core (stated, no target)")
            minutes = [f"{samples[i] / 1024:.1f}" for i in range(0, len(samples), 60)]
            print(f"console RSS each minute (MiB): {' '.join(minutes)}; after the first "
                  f"minute it grew {(samples[-1] - samples[min(60, len(samples) - 1)]) / 1024:+.1f}"
                  " MiB (stated)")
        tmux("send-keys", "-t", "console", "q")
        procs.check_alive()
        print()
        return verdicts.summary()
    except (RuntimeError, LoadgenError) as e:
        print(f"cannot run: {e}")
        return 2
    finally:
        if tmux is not None:
            tmux.kill()
        procs.stop_all()
        if not a.keep:
            Processes.remove_dir(tmp)


if __name__ == "__main__":
    sys.exit(main())
