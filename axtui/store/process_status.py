"""Live engine state that each running host publishes for processes that attach to the store
(the console, `axtui monitor`, `/metrics` of another gateway): one `process_status` row per
host, rewritten about every second and removed on an orderly stop.

This is not the control plane: a heartbeat never bumps the control version, so engines
polling for operator changes do not reload on it. A host that died leaves its row behind;
readers see it as stale by its age rather than trusting it.
"""

from __future__ import annotations

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Column, Connection, Float, Integer, String, Text, delete, insert, select
from sqlmodel import Field, SQLModel

STALE_AFTER_S = 5.0  # five missed beats of a 1 s heartbeat
GONE_AFTER_S = 3600.0  # a row this old belongs to a process that died: a host removes it


class ProcessStatusRow(SQLModel, table=True):
    """One running host's heartbeat."""

    __tablename__ = "process_status"

    process_id: str = Field(sa_column=Column(String, primary_key=True))
    face: str = Field(sa_column=Column(String, nullable=False))  # serve, demo, route, console
    host: str = Field(sa_column=Column(String, nullable=False))  # machine name
    pid: int = Field(sa_column=Column(Integer, nullable=False))
    started_at: float = Field(sa_column=Column(Float, nullable=False))  # wall time
    updated_at: float = Field(sa_column=Column(Float, nullable=False, index=True))  # wall time
    state: str = Field(sa_column=Column(Text, nullable=False))  # JSON: see LiveState


class DeploymentLive(BaseModel):
    """One deployment as one engine sees it right now."""

    model_config = ConfigDict(frozen=True)

    deployment: str
    breaker: str  # closed, open, half_open
    open_until: float | None = None  # wall time, while open
    headroom: float  # 0..1, the tightest rate window left (0 while cooling down)
    cooldown_until: float | None = None  # wall time, while a 429's cooldown lasts
    in_flight: int = 0
    drained: bool = False
    drained_reason: str | None = None


class RecorderLive(BaseModel):
    model_config = ConfigDict(frozen=True)

    written: int = 0
    dropped: int = 0
    queued: int = 0


class CacheLive(BaseModel):
    """One route's response cache in one engine (axtui/cache): counts since it started."""

    model_config = ConfigDict(frozen=True)

    entries: int = 0
    bytes: int = 0
    lookups: int = 0
    exact: int = 0  # hits on the normalized request
    semantic_hits: int = 0  # hits on a similar last user turn
    misses: int = 0
    stored: int = 0
    evictions: int = 0
    expirations: int = 0
    cleared: int = 0
    errors: int = 0
    saved_nano: int = 0
    skipped: dict[str, int] = {}  # reason (temperature, tool_result) -> requests


class RedisLive(BaseModel):
    """`[redis]`: whether this process counts with the fleet or alone (Redis down)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str  # without its password
    state: str  # up | down
    down_since: float | None = None
    last_error: str | None = None
    outages: int = 0
    failed_calls: int = 0


class ControlSyncLive(BaseModel):
    """How control-plane changes reach this process (engine/control.py ControlSync.status):
    `notify` (PostgreSQL's LISTEN is up) or `polling` (SQLite; or PostgreSQL while the LISTEN
    connection is down, which `listen` and `drops` tell apart)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    mode: str  # notify | polling
    since: float  # wall time of the last change of mode
    listen: bool = False  # this process listens (PostgreSQL)
    drops: int = 0  # times LISTEN fell back to polling
    last_error: str | None = None

    @property
    def degraded(self) -> bool:
        """Polling although this process listens: its LISTEN connection is down."""
        return self.listen and self.mode == "polling" and self.drops > 0


class QuotaWindowLive(BaseModel):
    """One rate window of one caller: its limit, the units counted now, the whole units
    left (the floor of limit - used, never negative, never above the limit)."""

    model_config = ConfigDict(frozen=True)

    limit: int
    used: float
    remaining: int


class QuotaSpendLive(BaseModel):
    model_config = ConfigDict(frozen=True)

    limit_nano: int
    spent_nano: int  # today (UTC)
    remaining_nano: int


class QuotaUseLive(BaseModel):
    """Where one caller of a quota scope stands."""

    model_config = ConfigDict(frozen=True)

    who: str  # a user id, key id, client IP, route name, or "*" (the global scope)
    rpm: QuotaWindowLive | None = None
    tpm: QuotaWindowLive | None = None
    spend: QuotaSpendLive | None = None


class QuotaScopeLive(BaseModel):
    """One configured quota scope: its limits and its busiest callers."""

    model_config = ConfigDict(frozen=True)

    scope: str  # key, user, ip, route, global
    who: str | None = None  # the route's name; "*" for global; None: a scope of many callers
    rpm: int | None = None
    tpm: int | None = None
    spend_day_usd: str | None = None
    callers: int | None = None  # callers counted (seen, when shared); None: one caller
    top: tuple[QuotaUseLive, ...] = ()  # the busiest few, most used first


class QuotasLive(BaseModel):
    """`[quotas]` as one engine counts them (engine/limits.py `quota_report`)."""

    model_config = ConfigDict(frozen=True)

    shared: bool = False  # the figures are the fleet's (Redis), else this process's own
    note: str | None = None  # e.g. Redis is down, so the counts are this process's
    scopes: tuple[QuotaScopeLive, ...] = ()  # empty: no quota is configured


class LiveState(BaseModel):
    """The JSON in a heartbeat row."""

    model_config = ConfigDict(frozen=True)

    in_flight: int = 0
    deployments: tuple[DeploymentLive, ...] = ()
    recorder: RecorderLive | None = None  # None: this host records nothing
    unservable: dict[str, str] = {}  # route -> why it can serve nothing right now
    cache: dict[str, CacheLive] = {}  # route -> its response cache, on routes that cache
    redis: RedisLive | None = None  # None: no [redis], in-process counters
    control_sync: ControlSyncLive | None = None  # None: written by an older axtui
    quotas: QuotasLive | None = None  # None: a host that does not report them


class ProcessState(BaseModel):
    """One host's heartbeat as read back: what it published and how old that is."""

    model_config = ConfigDict(frozen=True)

    process_id: str
    face: str
    host: str
    pid: int
    started_at: float
    updated_at: float
    age_s: float  # now - updated_at
    stale: bool  # older than stale_after_s: the process may be gone
    live: LiveState
    problem: str | None = None  # the row's state could not be read (live is then empty)


def write_process_status(
    conn: Connection,
    *,
    process_id: str,
    face: str,
    host: str,
    pid: int,
    started_at: float,
    updated_at: float,
    live: LiveState,
) -> None:
    """Replace this process's row (delete + insert: portable, one transaction)."""
    conn.execute(delete(ProcessStatusRow).where(ProcessStatusRow.process_id == process_id))
    conn.execute(insert(ProcessStatusRow).values(
        process_id=process_id, face=face, host=host, pid=pid, started_at=started_at,
        updated_at=updated_at, state=live.model_dump_json()))


def delete_process_status(conn: Connection, process_id: str) -> bool:
    stmt = delete(ProcessStatusRow).where(ProcessStatusRow.process_id == process_id)
    return conn.execute(stmt).rowcount > 0


def delete_dead_process(conn: Connection, host: str, pid: int) -> int:
    """Remove the rows of a process known to have died (a supervisor saw its worker exit):
    it is gone, not silent. Counted by host and pid, as its process id is its own."""
    stmt = delete(ProcessStatusRow).where(ProcessStatusRow.host == host,
                                          ProcessStatusRow.pid == pid)
    return conn.execute(stmt).rowcount


def remove_gone(conn: Connection, now: float, *, after_s: float = GONE_AFTER_S) -> int:
    """Remove the rows of processes silent for `after_s` (they died without stopping)."""
    stmt = delete(ProcessStatusRow).where(ProcessStatusRow.updated_at < now - after_s)
    return conn.execute(stmt).rowcount


def read_process_states(
    conn: Connection, now: float, *, stale_after_s: float = STALE_AFTER_S
) -> list[ProcessState]:
    """Every host's heartbeat, freshest first, aged against `now` (wall time: heartbeats
    are stamped with it whatever the engine's clock); `stale` marks rows older than
    stale_after_s.
    A row whose state does not parse is returned with `problem` set, never skipped."""
    rows = conn.execute(select(ProcessStatusRow.__table__)
                        .order_by(ProcessStatusRow.updated_at.desc())).all()
    out = []
    for r in rows:
        problem = None
        try:
            live = LiveState.model_validate(orjson.loads(r.state))
        except (orjson.JSONDecodeError, ValidationError) as e:
            live = LiveState()
            problem = f"unreadable state: {type(e).__name__}"
        age = now - r.updated_at
        out.append(ProcessState(
            process_id=r.process_id, face=r.face, host=r.host, pid=r.pid,
            started_at=r.started_at, updated_at=r.updated_at, age_s=age,
            stale=age > stale_after_s, live=live, problem=problem))
    return out

