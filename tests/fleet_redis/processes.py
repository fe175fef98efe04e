"""Start the fleet tests' worker processes and read their JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fleet_redis.worker", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT, env=env)

    def line(self) -> dict:
        text = self.proc.stdout.readline()
        if not text:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"worker exited with {self.proc.returncode} before answering")
        return json.loads(text)

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for f in (self.proc.stdin, self.proc.stdout):
            f.close()


def run_workers(*arg_lists: tuple[str, ...]) -> list[dict]:
    """Start every worker, wait until all are ready, say go to all, collect each result."""
    workers = [Worker(*args) for args in arg_lists]
    try:
        for w in workers:
            assert w.line() == {"ready": True}
        for w in workers:
            w.go()
        return [w.line() for w in workers]
    finally:
        for w in workers:
            w.close()
