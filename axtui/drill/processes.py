"""The drill's child processes: `axtui sim serve` (the upstreams) and `axtui serve` (the
gateway), each started with this copy of axtui, its output in a log file (a full pipe would
block it), ready once it has announced its port and answers."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import axtui

_URL = re.compile(r"(https?://\S+?)(?:/v1)?(?=[\s·]|$)")


class ProcessFailed(Exception):
    """A child did not start or answer; the message ends with the tail of its log."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log: Path
    base_url: str = ""  # scheme://host:port, no path

    def tail(self, n: int = 8) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(lines[-n:])

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, then SIGKILL after `timeout_s`; the exit code (None if it had to be
        killed, which the report shows)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None


    def kill(self) -> None:
        """SIGKILL the child itself (not its children): what `kill -9 PID` does."""
        if self.proc.poll() is None:
            self.proc.kill()

    def wait_group(self, timeout_s: float) -> int:
        """Wait for every process of the child's group (it leads a session, so its own
        children are in it) to end; SIGKILL those still running after `timeout_s`.
        How many had to be killed."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = _group_members(self.proc.pid)
            if not left:
                return 0
            if time.monotonic() > deadline:
                for pid in left:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                return len(left)
            time.sleep(0.05)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, from /proc."""
    out: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: the group cannot be seen; the child's exit is all
        return out
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment, with this copy of axtui first on the path."""
    env = dict(os.environ)
    root = str(Path(axtui.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def start(name: str, args: list[str], log: Path, *, announce: str, timeout_s: float = 30.0,
          env: dict[str, str] | None = None) -> Child:
    """Run `python -m axtui.cli.main ARGS`; wait for a log line starting with `announce`
    that carries its URL."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "axtui.cli.main", *args],
                                stdout=out, stderr=out, env=child_env(env),
                                start_new_session=True)  # a Ctrl-C on the drill is ours
    child = Child(name, proc, log)
    deadline = time.monotonic() + timeout_s
    while True:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(announce):
                m = _URL.search(line)
                if m:
                    child.base_url = m.group(1)
                    return child
        if proc.poll() is not None:
            raise ProcessFailed(f"{name} exited with {proc.returncode}:\n{child.tail()}")
        if time.monotonic() > deadline:
            child.stop(2)
            raise ProcessFailed(f"{name} did not announce itself in {timeout_s:g}s:\n"
                                f"{child.tail()}")
        time.sleep(0.02)


def wait_ready(child: Child, path: str, timeout_s: float = 30.0) -> None:
    """Poll `GET base_url + path` until it answers 200."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise ProcessFailed(f"{child.name} exited with {child.proc.returncode}:\n"
                                f"{child.tail()}")
        try:
            r = httpx.get(child.base_url + path, timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.05)
    raise ProcessFailed(f"{child.name} never became ready at {path} ({last}):\n{child.tail()}")
