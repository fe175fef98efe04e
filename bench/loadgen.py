"""wrk as the load generator: install it if missing, run it with bench/chat.lua, and read
the exact percentiles the script's done() prints as one JSON line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CHAT_LUA = Path(__file__).resolve().parent / "chat.lua"
_MARK = "WRK_JSON "


class LoadgenError(Exception):
    """wrk is missing and cannot be installed, or a run printed no result."""


@dataclass(frozen=True)
class WrkResult:
    connections: int
    duration_s: float
    requests: int  # responses completed, any status
    errors: dict[str, int]  # connect/read/write/timeout, and status = non-2xx/3xx responses
    latency_us: dict[str, float]  # min mean max stdev p50 p75 p90 p99 p999

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def ms(self, key: str) -> float:
        return self.latency_us[key] / 1000


def ensure_wrk() -> str:
    """Path of wrk, installing Debian's package when it is missing (we run as root here)."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise LoadgenError("wrk not found; install it: sudo apt-get install -y wrk")
    print("wrk not found: installing Debian's package (apt-get install -y wrk) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", "wrk"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    found = shutil.which("wrk")
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LoadgenError(f"could not install wrk: {tail[0]}")
    print(f"installed {found}", flush=True)
    return found


def parse_wrk_output(text: str, connections: int) -> WrkResult:
    """The result from wrk's output: the JSON line chat.lua's done() writes."""
    for line in text.splitlines():
        if line.startswith(_MARK):
            data = json.loads(line[len(_MARK) :])
            return WrkResult(
                connections=connections,
                duration_s=data["duration_us"] / 1e6,
                requests=data["requests"],
                errors=data["errors"],
                latency_us=data["latency_us"],
            )
    raise LoadgenError("wrk printed no result line:\n" + text[-2000:])


def run_wrk(
    wrk: str,
    url: str,
    model: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 5.0,
    user: str | None = None,
) -> WrkResult:
    """One wrk run posting bench/chat.lua's fixed chat request for `model` to `url`."""
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(CHAT_LUA),
        url,
        "--",
        model,
        *([user] if user else []),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    if done.returncode != 0:
        raise LoadgenError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse_wrk_output(done.stdout, connections)
