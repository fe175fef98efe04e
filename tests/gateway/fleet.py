"""`axtui serve --workers N` as a real process for tests: the supervisor in its own session,
its stderr read to the end, the worker pids from its "workers ready" line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from axtui.store import open_store
from axtui.store.process_status import ProcessState, read_process_states
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.gateway.harness import LoopThread

START_TIMEOUT_S = 120.0  # N interpreters importing the engine on a shared 2-core machine


class Fleet:
    def __init__(self, config: Path, workers: int, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axtui.cli.main", "serve", "--config", str(config),
             "--listen", "127.0.0.1:0", "--workers", str(workers), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})})
        self.lines: list[str] = []
        self.url = ""
        self.pids: list[int] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_line(lambda s: "workers ready" in s, START_TIMEOUT_S)
        self.pids = [int(p) for p in re.findall(r"\d+", line.split("pids", 1)[1])]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # drained to the end: a full pipe would block it
            with self._changed:
                self.lines.append(line)
                if line.startswith("axtui serve: http"):
                    self.url = line.split()[2].removesuffix("/v1")
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def wait_line(self, match: Callable[[str], bool], timeout: float = 60.0) -> str:
        """The first line (so far or to come) for which `match` holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((s for s in self.lines if match(s)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError("no such line; the supervisor said:\n"
                                         + "".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def stop(self, timeout: float = 90.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        """Test cleanup: the whole session, whatever is left of it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def gateways(url: str) -> list[ProcessState]:
    """The fresh `serve` heartbeats in the store."""
    store = open_store(url)
    try:
        with store.connect() as conn:
            return [p for p in read_process_states(conn, time.time())
                    if p.face == "serve" and not p.stale]
    finally:
        store.close()


def pinned_clients(base_url: str, workers: int, each: int,
                   tries: int = 400) -> list[httpx.Client]:
    """`each` keep-alive clients on every one of `workers` workers: the kernel hands a new
    connection to whichever worker accepts first (under load one may take them all), so
    connect until each worker holds `each`, told apart by /healthz's `process`."""
    held: dict[str, list[httpx.Client]] = {}
    spare: list[httpx.Client] = []
    try:
        for _ in range(tries):
            if len(held) == workers and all(len(c) >= each for c in held.values()):
                return [c for group in held.values() for c in group]
            client = httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=30,
                                  limits=httpx.Limits(max_connections=1))
            group = held.setdefault(client.get("/healthz").json()["process"], [])
            (group if len(group) < each else spare).append(client)
        spare += [c for group in held.values() for c in group]
        raise AssertionError(f"{tries} connections reached only workers {sorted(held)}")
    finally:
        for c in spare:
            c.close()


def wait_for(check: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    """`check()`'s first truthy value, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


@contextmanager
def fake_upstream() -> Iterator[OpenAIUpstream]:
    """A loopback OpenAI upstream (10 ms a request) on its own loop thread: the workers, in
    their own processes, call it over 127.0.0.1."""
    loop = LoopThread()
    up = OpenAIUpstream(latency_s=0.01, record=False)
    loop.run(up.start())
    try:
        yield up
    finally:
        loop.run(up.close())
        loop.close()
