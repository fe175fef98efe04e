"""A real agent process SIGKILLed mid-run, then started again in a new process: it resumes
from its last checkpoint (state, steps, cost), counts the calls the dead run made after that
checkpoint from the store's records, and finishes the work exactly once per item."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from axtui.store import agents as rows
from axtui.store.agents import AgentRow
from axtui.store.db import open_store
from axtui.store.tables import RequestRow

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 80


def worker(url: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.agents.worker", url, str(ITEMS)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def wait_for(what: str, check, proc: subprocess.Popen, timeout_s: float = 60.0):
    """Poll `check()` until it returns something truthy (the signal), or fail naming it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the worker ended before {what}: {proc.communicate()}")
        got = check()
        if got:
            return got
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def stored_calls(store, run: int) -> dict[int, int]:
    """step -> cost of the worker's records of `run` in the store."""
    with store.connect() as conn:
        return {int(rid.rsplit(".", 1)[1]): cost
                for rid, cost, _, _ in rows.records_of_run(conn, f"worker.r{run}.")}


def test_a_killed_agent_resumes_in_a_new_process_from_its_last_checkpoint(tmp_path):
    url = f"sqlite:///{tmp_path}/kill.db"
    store = open_store(url)
    first = worker(url)

    def checkpoint_with_calls_after_it():
        with store.connect() as conn:
            cp = rows.latest_checkpoint(conn, "worker")
        if cp is None or cp.step < 10:
            return None
        after = [s for s in stored_calls(store, 1) if s > cp.step]
        return cp if len(after) >= 3 else None

    wait_for("a checkpoint and three stored calls after it", checkpoint_with_calls_after_it, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    with store.connect() as conn:
        cp = rows.latest_checkpoint(conn, "worker")
        row = conn.execute(select(AgentRow.__table__)).one()
        v = rows.read_agent(conn, "worker", time.time(), alive=lambda h, p: False)
    assert cp is not None and not cp.final and cp.run == 1
    assert row.status == "running" and v.status == "crashed"  # no final state was written
    lost = {s: c for s, c in stored_calls(store, 1).items() if s > cp.step}
    assert cp.state["done"] == list(range(len(cp.state["done"])))

    second = worker(url)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    start, end = (json.loads(line) for line in out.splitlines())
    assert start["run"] == 2 and start["first"] == len(cp.state["done"])
    assert start["resumed"] == {
        "step": cp.step + len(lost), "cost_nano": cp.cost_nano + sum(lost.values()),
        "recovered": len(lost), "recovered_cost_nano": sum(lost.values()), "was": "crashed"}
    assert end["status"] == "finished" and end["done"] == list(range(ITEMS))
    run2 = stored_calls(store, 2)
    assert min(run2) == cp.step + len(lost) + 1  # steps carry on after the recovered ones
    assert end["steps"] == cp.step + len(lost) + len(run2)
    assert end["cost_nano"] == cp.cost_nano + sum(lost.values()) + sum(run2.values())
    with store.connect() as conn:
        v = rows.read_agent(conn, "worker", time.time())
        n = len(conn.execute(select(RequestRow.id).where(RequestRow.id >= "worker.r2.",
                                                         RequestRow.id < "worker.r2/")).all())
    assert (v.status, v.run, v.steps, v.cost_nano) == ("finished", 2, end["steps"],
                                                       end["cost_nano"])
    assert n == len(run2) == ITEMS - len(cp.state["done"])
    store.close()
