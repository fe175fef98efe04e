"""The control plane (versioned key -> JSON value) and the event log.

Every control write bumps one store-wide counter row, `control.version`, in the same
transaction, and stamps the entry with the new value. Engines poll `control_version()` (one
primary-key read) and reload the snapshot only when it moved; on PostgreSQL each write also
NOTIFYs (pg_notify.py), waking every engine at commit instead of at its next poll. Bumping that row first also
takes the write lock, so concurrent control writers are serialized and a compare-and-set on
`expected_version` is exact.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, delete, insert, select, update

from axtui.store.ingest import add_counters
from axtui.store.pg_notify import notify
from axtui.store.tables import ControlRow, CounterRow, EventRow

CONTROL_VERSION = "control.version"


class ControlConflict(Exception):
    """A compare-and-set lost: the entry changed since the caller read it."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"control {key!r} is at version {actual}, expected {expected}")
        self.key, self.expected, self.actual = key, expected, actual


class ControlEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    value: Any
    version: int
    updated_at: float
    updated_by: str


class ControlSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    entries: dict[str, ControlEntry]


class StoredEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    ts: float
    kind: str
    subject: str
    detail: dict[str, Any]


def control_version(conn: Connection) -> int:
    q = select(CounterRow.n).where(CounterRow.name == CONTROL_VERSION)
    return int(conn.execute(q).scalar() or 0)


def _entry(row: Any) -> ControlEntry:
    return ControlEntry(
        key=row.key,
        value=orjson.loads(row.value),
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def get_control(conn: Connection, key: str) -> ControlEntry | None:
    row = conn.execute(select(ControlRow.__table__).where(ControlRow.key == key)).first()
    return None if row is None else _entry(row)


def control_snapshot(conn: Connection) -> ControlSnapshot:
    """All entries and the version they are consistent with."""
    while True:  # a writer may land between our reads: retry until the version held still
        before = control_version(conn)
        rows = conn.execute(select(ControlRow.__table__)).all()
        if control_version(conn) == before:
            return ControlSnapshot(version=before, entries={r.key: _entry(r) for r in rows})


def set_control(
    conn: Connection,
    key: str,
    value: Any,
    *,
    by: str,
    now: float,
    expected_version: int | None = None,
    native_upsert: bool | None = None,
) -> int:
    """Write an entry inside the caller's transaction; returns its new version.

    `expected_version` makes it a compare-and-set (0: the key must not exist yet).
    """
    encoded = orjson.dumps(value).decode()
    add_counters(conn, {CONTROL_VERSION: 1}, native=native_upsert)
    version = control_version(conn)
    current = conn.execute(select(ControlRow.version).where(ControlRow.key == key)).scalar()
    if expected_version is not None and (current or 0) != expected_version:
        raise ControlConflict(key, expected_version, current or 0)
    fields = {"value": encoded, "version": version, "updated_at": now, "updated_by": by}
    if current is None:
        conn.execute(insert(ControlRow).values(key=key, **fields))
    else:
        conn.execute(update(ControlRow).where(ControlRow.key == key).values(**fields))
    notify(conn)
    return version


def delete_control(conn: Connection, key: str, *, native_upsert: bool | None = None) -> bool:
    """Remove an entry; the version still moves so every engine notices."""
    gone = conn.execute(delete(ControlRow).where(ControlRow.key == key)).rowcount > 0
    if gone:
        add_counters(conn, {CONTROL_VERSION: 1}, native=native_upsert)
        notify(conn)
    return gone


def add_event(
    conn: Connection, kind: str, subject: str, detail: dict[str, Any] | None, ts: float
) -> int:
    stmt = insert(EventRow).values(
        ts=ts, kind=kind, subject=subject, detail=orjson.dumps(detail or {}).decode()
    )
    return int(conn.execute(stmt).inserted_primary_key[0])


def _event(row: Any) -> StoredEvent:
    return StoredEvent(
        id=row.id, ts=row.ts, kind=row.kind, subject=row.subject, detail=orjson.loads(row.detail)
    )


def events(
    conn: Connection,
    *,
    since_ts: float | None = None,
    until_ts: float | None = None,
    kind: str | None = None,
    subject: str | None = None,
    limit: int = 100,
) -> list[StoredEvent]:
    """The newest events first."""
    q = select(EventRow.__table__)
    if since_ts is not None:
        q = q.where(EventRow.ts >= since_ts)
    if until_ts is not None:
        q = q.where(EventRow.ts < until_ts)
    if kind is not None:
        q = q.where(EventRow.kind == kind)
    if subject is not None:
        q = q.where(EventRow.subject == subject)
    q = q.order_by(EventRow.ts.desc(), EventRow.id.desc()).limit(limit)
    return [_event(r) for r in conn.execute(q)]


def events_after(conn: Connection, after_id: int = 0, *, limit: int = 1000) -> list[StoredEvent]:
    """Events logged after the one with id `after_id`, oldest first: the tail of the log."""
    q = select(EventRow.__table__).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
    return [_event(r) for r in conn.execute(q)]
