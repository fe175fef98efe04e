"""What the gateway benchmark needs around wrk: child processes that are always stopped,
CPU time read from /proc, the store's record count, and PASS/MISS verdicts."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Processes:
    """Children started by the bench, each in its own session (so Ctrl-C reaches only the
    bench, which then stops them in order), logs to files."""

    started: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self.started.append((name, proc, log))
        return proc.pid

    def pids(self) -> list[tuple[str, int]]:
        return [(name, proc.pid) for name, proc, _ in self.started]

    def check_alive(self) -> None:
        for name, proc, log in self.started:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}; its log ({log}) ends:\n" + tail(log)
                )

    def stop_all(self) -> None:
        """SIGTERM each child (the gateway flushes its recorder on it), then SIGKILL
        whatever is still there after 10 s."""
        for _, proc, _ in reversed(self.started):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc, _ in reversed(self.started):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self.started.clear()

    @staticmethod
    def remove_dir(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal the session the child leads (its pid is the group id: start_new_session), so
    workers it forked stop with it; only processes this bench started are in it."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return  # already gone


def tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(log unreadable: {e})"


def wait_http(url: str, procs: Processes, timeout_s: float) -> None:
    """Poll `url` until it answers 200; fail fast if a child died meanwhile."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"status {resp.status}"
        except urllib.error.HTTPError as e:
            last = f"status {e.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:g} s ({last})")


def upstream_served(base_url: str, model: str) -> int:
    """Completions the fake upstream served for `model` (bench/upstream.py's /stats)."""
    with urllib.request.urlopen(f"{base_url}/stats", timeout=5) as resp:
        return int(json.loads(resp.read()).get(model, 0))


def _proc_stat(pid: int) -> tuple[int, float]:
    """(parent pid, user+system CPU seconds) of one process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()  # the name may hold spaces
    return int(rest[1]), (int(rest[11]) + int(rest[12])) * _TICK_S


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by `root` and its live descendants (uvicorn workers, if any)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = _proc_stat(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited while we looked
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(p for p, (ppid, _) in stats.items() if ppid == pid)
    return total


@dataclass
class CpuMeter:
    """A process tree's CPU time over one measurement, per request and in cores."""

    pid: int
    cpu_s: float = 0.0
    wall_s: float = 0.0
    requests: int = 0
    _t0: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._t0 = (tree_cpu_s(self.pid), time.monotonic())

    def stop(self, requests: int) -> None:
        self.cpu_s = tree_cpu_s(self.pid) - self._t0[0]
        self.wall_s = time.monotonic() - self._t0[1]
        self.requests = requests

    def per_request_us(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")

    def cores(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, f.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) * _TICK_S


def wait_quiet(max_wait_s: float, below_cores: float = 0.2, window_s: float = 2.0) -> float:
    """Wait (at most `max_wait_s`) until the machine's busy cores over `window_s` fall below
    `below_cores`; the last reading, so the caller can say how busy it still was."""
    deadline = time.monotonic() + max_wait_s
    while True:
        b0, t0 = machine_busy_s(), time.monotonic()
        time.sleep(window_s)
        cores = (machine_busy_s() - b0) / (time.monotonic() - t0)
        if cores < below_cores or time.monotonic() >= deadline:
            return cores


def _own_children_s() -> float:
    """CPU seconds of this process and its reaped children (wrk, once it has exited)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class OtherLoad:
    """Cores used during one measurement by processes that are not the bench's: on a shared
    2-core machine another job's tests skew every figure, so each one says how busy it was."""

    own_pids: list[int]
    cores: float = 0.0
    _t0: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def _own_s(self) -> float:
        return sum(tree_cpu_s(p) for p in self.own_pids) + _own_children_s()

    def start(self) -> None:
        self._t0 = (machine_busy_s(), self._own_s(), time.monotonic(), 0.0)

    def stop(self) -> float:
        busy0, own0, t0, _ = self._t0
        wall = time.monotonic() - t0
        others = (machine_busy_s() - busy0) - (self._own_s() - own0)
        self.cores = max(0.0, others / wall) if wall else 0.0
        return self.cores


def count_records(db: Path, settle_s: float = 1.0, timeout_s: float = 15.0) -> dict[str, int]:
    """Records in the store by outcome (and "total"), once the count has stopped moving:
    the recorder writes in batches, so the last ones land a flush interval later."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, int] | None = None
    while True:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute("SELECT outcome, count(*) FROM request GROUP BY outcome").fetchall()
        except sqlite3.Error as e:
            raise RuntimeError(f"cannot count records in {db}: {e}") from e
        finally:
            con.close()
        counts = {str(k): int(v) for k, v in rows}
        counts["total"] = sum(v for k, v in counts.items())
        if counts == last or time.monotonic() > deadline:
            return counts
        last = counts
        time.sleep(settle_s)


@dataclass
class Verdicts:
    """Each figure beside its target, PASS or MISS; the exit code follows."""

    results: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, label: str, value: float, target: float, unit: str, *, upper: bool) -> bool:
        ok = value <= target if upper else value >= target
        op = "<=" if upper else ">="
        digits = 2 if unit in ("ms", "s") else (1 if unit == "%" else 0)
        sep = "" if unit == "%" else " "
        shown = f"{value:,.{digits}f}{sep}{unit}"
        print(
            f"    {label}: {shown} (target {op} {target:,g}{sep}{unit}) {'PASS' if ok else 'MISS'}",
            flush=True,
        )
        self.results.append((label, ok))
        return ok

    def record(self, label: str, ok: bool) -> bool:
        print(f"    {label} {'PASS' if ok else 'MISS'}", flush=True)
        self.results.append((label, ok))
        return ok

    def summary(self) -> int:
        passed = sum(ok for _, ok in self.results)
        print(f"summary: {passed}/{len(self.results)} targets PASS")
        for label, ok in self.results:
            if not ok:
                print(f"  MISS: {label}")
        return 0 if passed == len(self.results) else 1
