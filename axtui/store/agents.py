"""Long-running agents in the store: one `agent` row per agent (where it stands, rewritten at
each checkpoint and by its heartbeat) and its `agent_checkpoint` rows (progress, cost, the
deployments it used and its caller's own state, the newest few kept).

Plain SQL over SQLModel tables, created by `create_tables` like every other table. Two kinds
of time: checkpoint times are the agent's clock (virtual in tests), heartbeats are always the
wall clock, because a reader judges liveness against its own wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from axtui.store.tables import _SERIAL, RequestRow

RUNNING, STOPPED, FINISHED, CRASHED = "running", "stopped", "finished", "crashed"
STALE_BEATS = 3  # a running agent whose heartbeat is this many beats late has crashed


class AgentRow(SQLModel, table=True):
    """One agent: its limits, and its totals as of its last checkpoint."""

    __tablename__ = "agent"

    id: str = Field(sa_column=Column(String, primary_key=True))
    status: str = Field(sa_column=Column(String, nullable=False))  # running|stopped|finished
    run: int = Field(sa_column=Column(Integer, nullable=False))  # 1, then +1 per resume
    created_at: float  # the agent's clock
    host: str
    pid: int
    heartbeat_at: float  # wall clock
    heartbeat_s: float
    budget_nano: int | None = Field(default=None, sa_column=Column(BigInteger))
    runtime_limit_s: float | None = None
    step_limit: int | None = None
    checkpoint_every_s: float
    steps: int = 0
    failed_steps: int = 0
    cost_nano: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    runtime_s: float = 0.0
    deployment: str | None = None  # the last deployment that answered
    checkpoint_at: float | None = None  # the agent's clock
    checkpoints: int = 0
    stop_reason: str | None = None  # budget, runtime, steps, requested, error, cancelled
    stop_detail: str | None = None
    ended_at: float | None = None  # the agent's clock
    stop_requested: str | None = None  # an operator's reason, read at the next checkpoint


class AgentCheckpointRow(SQLModel, table=True):
    """One checkpoint: what a resumed agent starts from."""

    __tablename__ = "agent_checkpoint"
    __table_args__ = (Index("ix_agent_checkpoint_agent", "agent_id", "seq"),
                      {"sqlite_autoincrement": True})

    seq: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    agent_id: str = Field(sa_column=Column(String, nullable=False))
    run: int
    at: float  # the agent's clock
    wall_at: float
    step: int  # calls counted (finished)
    issued: int  # the highest step number handed out in this run
    pending: str = Field(sa_column=Column(Text, nullable=False))  # JSON: steps still in flight
    failed_steps: int
    cost_nano: int = Field(sa_column=Column(BigInteger, nullable=False))
    runtime_s: float
    progress: float | None = None
    deployment: str | None = None
    by_deployment: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    state: str = Field(sa_column=Column(Text, nullable=False))  # JSON, the caller's
    final: bool = False


@dataclass(frozen=True, slots=True)
class Checkpoint:
    agent_id: str
    run: int
    at: float
    step: int
    failed_steps: int
    cost_nano: int
    runtime_s: float
    progress: float | None
    deployment: str | None
    by_deployment: dict[str, dict[str, int]]  # deployment -> {"attempts", "ok", "cost_nano"}
    state: Any
    final: bool = False
    issued: int = 0  # step numbers up to this were handed out...
    pending: tuple[int, ...] = ()  # ...and these were still in flight (not counted)

    def counted(self, step: int) -> bool:
        """Whether the call with this step number (of this run) is in the checkpoint."""
        return step <= max(self.issued, self.step) and step not in self.pending


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent as `axtui agents` shows it (status judged against the reader's wall clock)."""

    id: str
    status: str  # running | stopped | finished | crashed
    run: int
    host: str
    pid: int
    created_at: float
    heartbeat_at: float
    heartbeat_age_s: float
    steps: int
    failed_steps: int
    cost_nano: int
    budget_nano: int | None
    budget_left_nano: int | None
    runtime_s: float
    runtime_limit_s: float | None
    step_limit: int | None
    checkpoint_every_s: float
    deployment: str | None
    checkpoint_at: float | None
    checkpoints: int
    stop_reason: str | None
    stop_detail: str | None
    ended_at: float | None

    def describe(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


def status_of(row: Any, now_wall: float, alive: bool | None) -> str:
    """running, or crashed when its heartbeat stopped (or its process is known dead) without
    a final state; stopped and finished as written."""
    if row.status != RUNNING:
        return row.status
    if alive is False or now_wall - row.heartbeat_at > STALE_BEATS * row.heartbeat_s:
        return CRASHED
    return RUNNING


def _view(row: Any, now_wall: float, alive: bool | None) -> AgentView:
    left = None if row.budget_nano is None else row.budget_nano - row.cost_nano
    return AgentView(
        id=row.id, status=status_of(row, now_wall, alive), run=row.run, host=row.host,
        pid=row.pid, created_at=row.created_at, heartbeat_at=row.heartbeat_at,
        heartbeat_age_s=max(0.0, now_wall - row.heartbeat_at), steps=row.steps,
        failed_steps=row.failed_steps, cost_nano=row.cost_nano, budget_nano=row.budget_nano,
        budget_left_nano=left, runtime_s=row.runtime_s, runtime_limit_s=row.runtime_limit_s,
        step_limit=row.step_limit, checkpoint_every_s=row.checkpoint_every_s,
        deployment=row.deployment, checkpoint_at=row.checkpoint_at,
        checkpoints=row.checkpoints, stop_reason=row.stop_reason, stop_detail=row.stop_detail,
        ended_at=row.ended_at)


def read_agents(conn: Connection, now_wall: float, alive=None) -> list[AgentView]:
    """Every agent, newest first. `alive(host, pid)`: True/False when the reader can tell
    (same machine), None when it cannot."""
    rows = conn.execute(select(AgentRow.__table__).order_by(AgentRow.created_at.desc())).all()
    return [_view(r, now_wall, alive(r.host, r.pid) if alive else None) for r in rows]


def read_agent(conn: Connection, agent_id: str, now_wall: float, alive=None) -> AgentView | None:
    r = conn.execute(select(AgentRow.__table__).where(AgentRow.id == agent_id)).first()
    return None if r is None else _view(r, now_wall, alive(r.host, r.pid) if alive else None)


def agent_row(conn: Connection, agent_id: str) -> Any | None:
    return conn.execute(select(AgentRow.__table__).where(AgentRow.id == agent_id)).first()


def create_agent(conn: Connection, agent_id: str, *, now: float, **fields: Any) -> None:
    conn.execute(insert(AgentRow).values(id=agent_id, status=RUNNING, run=1, created_at=now,
                                         **fields))


def take_over(conn: Connection, agent_id: str, *, old_run: int, **fields: Any) -> bool:
    """Start the next run of an agent; False if another process took it first."""
    stmt = (update(AgentRow).where(AgentRow.id == agent_id, AgentRow.run == old_run)
            .values(run=old_run + 1, status=RUNNING, stop_reason=None, stop_detail=None,
                    ended_at=None, stop_requested=None, **fields))
    return conn.execute(stmt).rowcount == 1


def write_checkpoint(conn: Connection, cp: Checkpoint, *, wall_at: float, keep: int,
                     status: str = RUNNING, stop_reason: str | None = None,
                     stop_detail: str | None = None, state_json: bytes | None = None
                     ) -> str | None:
    """Insert the checkpoint and bring the agent row up to it, in one transaction (the
    caller's). Returns an operator's stop request if one is pending. Raises Superseded if
    another run owns the agent now (nothing is then written, once the caller rolls back)."""
    ended = cp.at if status != RUNNING else None
    stmt = (update(AgentRow).where(AgentRow.id == cp.agent_id, AgentRow.run == cp.run)
            .values(status=status, heartbeat_at=wall_at, steps=cp.step,
                    failed_steps=cp.failed_steps, cost_nano=cp.cost_nano,
                    runtime_s=cp.runtime_s, deployment=cp.deployment, checkpoint_at=cp.at,
                    checkpoints=AgentRow.checkpoints + 1, stop_reason=stop_reason,
                    stop_detail=stop_detail, ended_at=ended))
    if conn.execute(stmt).rowcount != 1:
        raise Superseded(cp.agent_id, cp.run)
    conn.execute(insert(AgentCheckpointRow).values(
        agent_id=cp.agent_id, run=cp.run, at=cp.at, wall_at=wall_at, step=cp.step,
        issued=cp.issued, pending=orjson.dumps(cp.pending).decode(), failed_steps=cp.failed_steps, cost_nano=cp.cost_nano, runtime_s=cp.runtime_s,
        progress=cp.progress, deployment=cp.deployment,
        by_deployment=orjson.dumps(cp.by_deployment).decode(),
        state=(state_json or orjson.dumps(cp.state)).decode(), final=cp.final))
    _prune(conn, cp.agent_id, keep)
    q = select(AgentRow.stop_requested).where(AgentRow.id == cp.agent_id)
    return conn.execute(q).scalar()


def _prune(conn: Connection, agent_id: str, keep: int) -> None:
    """Keep the newest `keep` checkpoints of the agent."""
    q = (select(AgentCheckpointRow.seq).where(AgentCheckpointRow.agent_id == agent_id)
         .order_by(AgentCheckpointRow.seq.desc()).offset(keep).limit(1))
    cut = conn.execute(q).scalar()
    if cut is not None:
        conn.execute(delete(AgentCheckpointRow).where(AgentCheckpointRow.agent_id == agent_id,
                                                      AgentCheckpointRow.seq <= cut))


def latest_checkpoint(conn: Connection, agent_id: str) -> Checkpoint | None:
    r = conn.execute(select(AgentCheckpointRow.__table__)
                     .where(AgentCheckpointRow.agent_id == agent_id)
                     .order_by(AgentCheckpointRow.seq.desc()).limit(1)).first()
    if r is None:
        return None
    return Checkpoint(agent_id=r.agent_id, run=r.run, at=r.at, step=r.step,
                      failed_steps=r.failed_steps, cost_nano=r.cost_nano, runtime_s=r.runtime_s,
                      progress=r.progress, deployment=r.deployment,
                      by_deployment=orjson.loads(r.by_deployment), state=orjson.loads(r.state),
                      final=bool(r.final), issued=r.issued, pending=tuple(orjson.loads(r.pending)))


def beat(conn: Connection, agent_id: str, run: int, wall_at: float) -> bool:
    """The heartbeat of a running agent's run; False once it no longer owns the row."""
    stmt = (update(AgentRow).where(AgentRow.id == agent_id, AgentRow.run == run,
                                   AgentRow.status == RUNNING).values(heartbeat_at=wall_at))
    return conn.execute(stmt).rowcount == 1


def request_stop(conn: Connection, agent_id: str, reason: str) -> bool:
    """Ask a running agent to stop at its next checkpoint."""
    stmt = (update(AgentRow).where(AgentRow.id == agent_id, AgentRow.status == RUNNING)
            .values(stop_requested=reason))
    return conn.execute(stmt).rowcount == 1


def records_of_run(conn: Connection, prefix: str) -> list[tuple[str, int, str | None, str]]:
    """(id, cost_nano, deployment, outcome) of the stored records whose id starts with
    `prefix`."""
    col = RequestRow.id
    if conn.dialect.name == "sqlite":  # BINARY collation: a range on the unique id index
        cond = and_(col >= prefix, col < prefix[:-1] + chr(ord(prefix[-1]) + 1))
    else:  # a locale collation may order punctuation otherwise: match the prefix
        cond = col.startswith(prefix, autoescape=True)
    q = select(col, RequestRow.cost_nano, RequestRow.deployment, RequestRow.outcome).where(cond)
    return [(r.id, r.cost_nano, r.deployment, r.outcome) for r in conn.execute(q)
            if r.id.startswith(prefix)]  # LIKE may ignore case


class Superseded(Exception):
    """Another run of the agent (a resume elsewhere) owns its row now."""

    def __init__(self, agent_id: str, run: int) -> None:
        super().__init__(f"agent {agent_id!r} run {run} was superseded by a newer run")
