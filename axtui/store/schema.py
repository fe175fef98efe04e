"""The store's schema version: made, checked and migrated (Alembic) when a store opens.

Four cases, decided under a lock so racing processes do it once:
- current: the version row says HEAD (the common case: two cheap queries, no Alembic import);
- empty: no axtui table yet: create every table from the models and stamp HEAD (Alembic's
  recipe for a new database; tests/store prove the migrations build the same schema);
- legacy: axtui tables but no version row (every store made before migrations): check its
  tables against the models, add what an older axtui lacked (tables, nullable or counter
  columns), refuse with one line what cannot be added in place, then stamp HEAD;
- versioned: run Alembic's upgrade to HEAD; a revision this axtui does not know is a store
  from a newer axtui and is refused with one line (never read with the wrong shape).
The migrations live in axtui/store/migrations/ and run on the store's own connection.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, inspect, text
from sqlalchemy.schema import CreateColumn
from sqlmodel import SQLModel

log = logging.getLogger(__name__)

HEAD = "0002_feedback"  # the newest revision in migrations/versions (a test keeps them equal)
VERSION_TABLE = "alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")
# One PostgreSQL advisory lock key for "someone is migrating this database".
_PG_LOCK_KEY = zlib.crc32(b"axtui.store.schema")


class SchemaError(RuntimeError):
    """The store's schema cannot be used by this axtui (one line, says what to do)."""


def models() -> dict[str, Table]:
    """Every table the store holds, by name (importing the modules that define them)."""
    from axtui.costs import folded  # noqa: F401  (cost_rollups registers on import)
    from axtui.store import agents, feedback, process_status, tables  # noqa: F401

    return dict(SQLModel.metadata.tables)


def ensure_schema(engine: Engine, url: str) -> str:
    """Bring the store at `engine` to HEAD; returns what was done: current, created,
    stamped (legacy store checked) or upgraded. SchemaError when it cannot be used."""
    with engine.connect() as conn:
        if _versions(conn) == {HEAD}:
            conn.rollback()
            return "current"
        conn.rollback()
    with engine.connect() as conn:
        _lock(conn)
        try:
            done = _migrate(conn, url)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    if done != "current":
        log.info("store %s: schema %s (revision %s)", url, done, HEAD)
    return done


def _migrate(conn: Connection, url: str) -> str:
    versions = _versions(conn)  # again, under the lock: another process may have done it
    if versions == {HEAD}:
        return "current"
    if versions is None or not versions:
        table_names = set(inspect(conn).get_table_names())
        wanted = models()
        if not table_names & set(wanted):
            SQLModel.metadata.create_all(conn, tables=list(wanted.values()))
            _stamp(conn, HEAD)
            return "created"
        _upgrade_legacy(conn, url, wanted, table_names)
        _stamp(conn, HEAD)
        return "stamped"
    return _upgrade(conn, url, versions)


def _versions(conn: Connection) -> set[str] | None:
    """The version rows, or None when the store has no version table."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    return set(rows)


def _lock(conn: Connection) -> None:
    """Serialise schema work across processes until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock (waits busy_timeout)


def _stamp(conn: Connection, revision: str) -> None:
    conn.execute(text(
        f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
        "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))  # Alembic's own shape
    conn.execute(text(f"DELETE FROM {VERSION_TABLE}"))
    conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": revision})


def _upgrade(conn: Connection, url: str, versions: set[str]) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = sorted(versions - known)
    if unknown:
        raise SchemaError(
            f"store {url} has schema revision {', '.join(unknown)}, written by a newer axtui "
            f"(this one knows up to {HEAD}): upgrade axtui to use it")
    from alembic import command

    command.upgrade(config, "head")
    return "upgraded"


def _upgrade_legacy(conn: Connection, url: str, wanted: dict[str, Table],
                    present: set[str]) -> None:
    """A store from before migrations: add what it lacks, refuse what differs."""
    insp = inspect(conn)
    problems: list[str] = []
    added: list[str] = []
    for name, table in wanted.items():
        if name not in present:
            table.create(conn)
            added.append(name)
            continue
        have = {col["name"]: col for col in insp.get_columns(name)}
        for col in table.columns:
            if col.name in have:
                continue
            default = col.default.arg if col.default is not None and col.default.is_scalar \
                else None
            if col.primary_key or (not col.nullable and default is None):
                problems.append(f"{name}.{col.name} is missing")
                continue
            _add_column(conn, name, col, default)
            added.append(f"{name}.{col.name}")
        indexes = {ix["name"] for ix in insp.get_indexes(name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(conn)
                added.append(f"index {index.name}")
        for extra, info in have.items():
            if extra not in table.columns and not info["nullable"] and info.get(
                    "default") is None:
                problems.append(f"{name}.{extra} is unknown and required")
    if problems:
        raise SchemaError(
            f"store {url} was made by an axtui too old to upgrade in place "
            f"({'; '.join(problems[:4])}{'; ...' if len(problems) > 4 else ''}): "
            "start a new store (--store) and keep this one for reading with that axtui")
    if added:
        log.warning("store %s: made before schema versions; added %s", url, ", ".join(added))


def _add_column(conn: Connection, table: str, col, default) -> None:
    """ALTER TABLE ... ADD COLUMN, with the model's scalar default for existing rows."""
    ddl = str(CreateColumn(col).compile(dialect=conn.dialect))
    if default is not None:
        ddl += f" DEFAULT {int(default) if isinstance(default, bool) else default!r}"
    conn.exec_driver_sql(f"ALTER TABLE {conn.dialect.identifier_preparer.quote(table)} "
                         f"ADD COLUMN {ddl}")
