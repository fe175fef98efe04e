"""Processes sharing one store's control plane, for the propagation test and bench.

The child: a gateway's engine in its own process, kept in step with a shared store by ControlSync;
it prints `ready <listening>` once synced, then `applied <control version> <wall time>` the
moment its engine has applied each control change. Runs until its stdin closes.

    python -m tests.store_pg.control_child STORE_URL POLL_S

The parent side: `Fleet` starts N children on a store and measures, for one control write,
how long after its commit each child's engine had applied it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from axtui.clock import RealClock
from axtui.engine.control import ControlSync
from axtui.engine.engine import Engine
from axtui.store.db import open_store
from tests.engine.conftest import make_config
from tests.engine.scripted import Ok, ScriptedProvider

REPO = Path(__file__).resolve().parents[2]


class Reporting:
    """The engine as ControlSync's target, saying when each snapshot is applied."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply_control(self, snapshot) -> None:
        self.engine.apply_control(snapshot)
        print("applied", snapshot.version, repr(time.time()), flush=True)


async def main(url: str, poll_s: float) -> None:
    cfg = make_config()
    clock = RealClock()
    providers = {n: ScriptedProvider(n, clock, default=Ok(latency_s=0)) for n in cfg.providers}
    engine = Engine(cfg, clock=clock, providers=providers, seed=1)
    store = open_store(url)
    sync = ControlSync(Reporting(engine), store, interval_s=poll_s)
    sync.start()
    listener = sync._listener
    if listener is not None:  # PostgreSQL: ready once notifications can arrive
        await asyncio.to_thread(listener.connected.wait, 30)
    print("ready", sync.listening, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    await sync.stop()
    store.close()


class Fleet:
    """N child processes attached to the store at `url`, each polling every `poll_s`."""

    def __init__(self, url: str, n: int, poll_s: float) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.children = [subprocess.Popen(
            [sys.executable, "-m", "tests.store_pg.control_child", url, str(poll_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, cwd=REPO) for _ in range(n)]
        self.listening: list[bool] = []
        for child in self.children:
            line = child.stdout.readline().split()
            while line and line[0] == "applied":  # its start-up sync
                line = child.stdout.readline().split()
            if not line or line[0] != "ready":
                self.close()
                raise RuntimeError(f"a child did not start: {line} {child.stderr.read()}")
            self.listening.append(line[1] == "True")

    def applied_after(self, version: int, since: float, timeout_s: float = 30) -> list[float]:
        """Seconds from `since` (wall time) until each child applied `version` or newer."""
        latencies = []
        deadline = time.monotonic() + timeout_s
        for child in self.children:
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"a child never applied control version {version}")
                line = child.stdout.readline().split()
                if not line:
                    raise RuntimeError(f"a child exited: {child.stderr.read()}")
                if line[0] == "applied" and int(line[1]) >= version:
                    latencies.append(float(line[2]) - since)
                    break
        return latencies

    def close(self) -> None:
        for child in self.children:
            if child.stdin and not child.stdin.closed:
                child.stdin.close()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
