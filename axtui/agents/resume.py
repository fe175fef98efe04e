"""Resuming an agent: whether it may be (not finished, not running in a live process), the
checkpoint it starts from, and the calls its last run made after that checkpoint, found by
their record ids in the store (the money was spent even though the answers are lost)."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from axtui.store import agents as rows


class AgentError(Exception):
    """The agent cannot do what was asked (bad id or state, finished, running elsewhere)."""


@dataclass(frozen=True, slots=True)
class Resumed:
    """Where a resumed agent picked up."""

    run: int  # this run's number (2 for the first resume)
    checkpoint_at: float  # the checkpoint resumed from (the agent's clock)
    step: int  # calls made before this run, recovered ones included
    cost_nano: int  # spent before this run, recovered calls included
    recovered_steps: int  # calls made after that checkpoint, found in the store's records
    recovered_cost_nano: int
    previous_status: str  # crashed or stopped


def process_alive(host: str, pid: int) -> bool | None:
    """Whether a process on this machine lives; None for another machine's."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def resume_point(conn: Connection, agent_id: str, row: Any) -> tuple[rows.Checkpoint, Resumed]:
    """The checkpoint to resume from, its totals brought up to the calls made after it."""
    status = rows.status_of(row, time.time(), process_alive(row.host, row.pid))
    if status == rows.FINISHED:
        raise AgentError(f"agent {agent_id!r} finished; give a new agent another id")
    if status == rows.RUNNING:
        raise AgentError(f"agent {agent_id!r} is running (pid {row.pid} on {row.host}, "
                         f"heartbeat {time.time() - row.heartbeat_at:.0f}s ago)")
    cp = rows.latest_checkpoint(conn, agent_id)
    if cp is None:
        raise AgentError(f"agent {agent_id!r} has no checkpoint to resume from")
    n = spent = failed = 0
    by_deployment = {d: dict(v) for d, v in cp.by_deployment.items()}
    for rid, cost, deployment, outcome in rows.records_of_run(conn, f"{agent_id}.r{cp.run}."):
        step = rid.rsplit(".", 1)[1]
        if not step.isdigit() or cp.counted(int(step)):
            continue
        n, spent, failed = n + 1, spent + cost, failed + (outcome != "ok")
        if deployment is not None:
            d = by_deployment.setdefault(deployment, {"attempts": 0, "ok": 0, "cost_nano": 0})
            d["cost_nano"] += cost
    cp = replace(cp, step=cp.step + n, failed_steps=cp.failed_steps + failed,
                 cost_nano=cp.cost_nano + spent, by_deployment=by_deployment)
    return cp, Resumed(run=row.run + 1, checkpoint_at=cp.at, step=cp.step,
                       cost_nano=cp.cost_nano, recovered_steps=n, recovered_cost_nano=spent,
                       previous_status=status)
