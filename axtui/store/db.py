"""Open a store from any SQLAlchemy URL; `Store` owns the engine and offers the queries.

SQLite's connection setup lives in sqlite.py (the one module that knows the store may be
SQLite); everything else is portable SQLAlchemy, so PostgreSQL needs only a different URL.
Every method is a short blocking call: from asyncio, run it in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, select
from sqlalchemy.engine import make_url

from axtui.clock import Clock, RealClock
from axtui.records import RequestRecord
from axtui.store import agents as _agents  # noqa: F401  (its tables)
from axtui.store import control, metrics, postgres, queries, schema, sqlite
from axtui.store import feedback as _feedback
from axtui.store import process_status as _process_status  # noqa: F401  (its table)
from axtui.store import tables as _tables  # noqa: F401  (registers the tables)
from axtui.store.bulk import NATIVE_UPSERT_DIALECTS
from axtui.store.ingest import PreparedBatch, prepare, record_json, write_prepared
from axtui.store.tables import CounterRow

DEFAULT_URL = "sqlite:///axtui.db"


class Store:
    """Owns the SQLAlchemy engine; every read and write of the store goes through it."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None, shared_connection=False):
        self.engine = engine
        self.clock: Clock = clock or RealClock()
        # The recorder's thread and the caller share one in-memory connection: take turns.
        self._lock: threading.RLock | None = threading.RLock() if shared_connection else None
        self._checkpointer: sqlite.WalCheckpointer | None = None
        self.native_upsert = engine.dialect.name in NATIVE_UPSERT_DIALECTS
        # Parameters per bulk statement; 0 leaves bulk writes to the driver's executemany.
        self.max_params = 0

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._lock or nullcontext(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self._lock or nullcontext(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: every query in it sees the store as of one moment, so
        the numbers of one snapshot agree with each other. Nothing is written; it ends in a
        rollback."""
        with self._lock or nullcontext(), self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                sqlite.begin_read(conn)
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            try:
                yield conn
            finally:
                conn.rollback()

    def create_tables(self) -> str:
        """Make, check or migrate the store's schema to this axtui's (store/schema.py);
        SchemaError (one line) for a store this axtui cannot use."""
        with self._lock or nullcontext():
            return schema.ensure_schema(self.engine, self.url)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes (the recorder's) --------------------------------------------------------

    def write_records(
        self, records: Sequence[RequestRecord], record_jsons: Sequence[str] | None = None
    ) -> None:
        """Store records atomically with their rollups (the recorder batches this for you)."""
        if record_jsons is None:
            record_jsons = [record_json(r) for r in records]
        self.write_prepared(prepare(record_jsons))

    def write_prepared(self, batch: PreparedBatch, *, dropped: int = 0,
                       rows_per_statement: int | None = None) -> None:
        """Store a prepared batch in one transaction: rows, rollups, recorder counters."""
        extra = {} if rows_per_statement is None else {"rows_per_statement": rows_per_statement}
        with self.begin() as conn:
            write_prepared(
                conn,
                batch,
                dropped=dropped,
                native_upsert=self.native_upsert,
                max_params=self.max_params,
                **extra,
            )

    def counter(self, name: str) -> int:
        with self.connect() as conn:
            n = conn.execute(select(CounterRow.n).where(CounterRow.name == name)).scalar()
        return int(n or 0)

    # -- records ------------------------------------------------------------------------

    def get_record(self, record_id: str) -> RequestRecord | None:
        with self.connect() as conn:
            return queries.get_record(conn, record_id)

    def recent_records(
        self,
        *,
        since_ts: float | None = None,
        until_ts: float | None = None,
        route: str | None = None,
        deployment: str | None = None,
        user: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[RequestRecord]:
        """The newest records (by started_at) matching every filter given."""
        with self.connect() as conn:
            return queries.recent_records(
                conn, since_ts=since_ts, until_ts=until_ts, route=route,
                deployment=deployment, user=user, outcome=outcome, limit=limit,
            )  # fmt: skip

    def records_after(
        self, cursor: int = 0, *, route: str | None = None, limit: int = 1000
    ) -> queries.RecordPage:
        """Records written after `cursor`, oldest first, and the cursor to ask from next
        (start a live tail from `latest_cursor()`)."""
        with self.connect() as conn:
            return queries.records_after(conn, cursor, route=route, limit=limit)

    def record_json_after(self, cursor: int = 0, *, limit: int = 1000) -> tuple[list[str], int]:
        """The stored JSON lines after `cursor` and the next cursor (see records_after)."""
        with self.connect() as conn:
            return queries.record_json_after(conn, cursor, limit=limit)

    def latest_cursor(self) -> int:
        with self.connect() as conn:
            return queries.latest_cursor(conn)

    # -- rollups ------------------------------------------------------------------------

    def deployment_health(
        self, since_ts: float, until_ts: float | None = None
    ) -> dict[str, queries.DeploymentHealth]:
        with self.connect() as conn:
            return queries.deployment_health(conn, since_ts, until_ts)

    def route_stats(
        self, since_ts: float, until_ts: float | None = None
    ) -> dict[str, queries.RouteStats]:
        with self.connect() as conn:
            return queries.route_stats(conn, since_ts, until_ts)

    def minute_series(
        self,
        since_ts: float,
        until_ts: float | None = None,
        *,
        route: str | None = None,
        deployment: str | None = None,
    ) -> list[queries.MinutePoint]:
        with self.connect() as conn:
            return queries.minute_series(
                conn, since_ts, until_ts, route=route, deployment=deployment
            )

    def spend(
        self,
        since_ts: float,
        until_ts: float | None = None,
        group_by: queries.SpendGroup = "route",
    ) -> dict[str | None, int]:
        with self.connect() as conn:
            return queries.spend(conn, since_ts, until_ts, group_by)

    def metric_value(
        self, metric: metrics.Metric | str, scope: metrics.Scope | str, since_ts: float,
        until_ts: float,
    ) -> float | None:
        """A named metric (store/metrics.py) over [since_ts, until_ts); None: no data."""
        with self.connect() as conn:
            return metrics.metric_value(conn, metric, scope, since_ts, until_ts)

    def metric_series(
        self, metric: metrics.Metric | str, scope: metrics.Scope | str, since_ts: float,
        until_ts: float, step_s: float,
    ) -> list[tuple[float, float | None]]:
        with self.connect() as conn:
            return metrics.metric_series(conn, metric, scope, since_ts, until_ts, step_s)

    # -- ratings (POST /v1/feedback) ----------------------------------------------------

    def rate(self, record: RequestRecord, score: float, label: str | None = None,
             comment: str | None = None) -> None:
        """Attach (or replace) a caller's rating of `record`."""
        with self.begin() as conn:
            _feedback.rate(conn, record, score, label, comment, self.clock.now())

    def ratings(self, *, since_ts: float | None = None,
                until_ts: float | None = None) -> list[_feedback.Rating]:
        """Ratings of the requests that started in [since, until)."""
        with self.connect() as conn:
            return _feedback.ratings(conn, since_ts, until_ts)

    # -- events and the control plane ----------------------------------------------------

    def add_event(
        self, kind: str, subject: str, detail: dict | None = None, *, ts: float | None = None
    ) -> int:
        when = self.clock.now() if ts is None else ts
        with self.begin() as conn:
            return control.add_event(conn, kind, subject, detail, when)

    def events(
        self,
        *,
        since_ts: float | None = None,
        until_ts: float | None = None,
        kind: str | None = None,
        subject: str | None = None,
        limit: int = 100,
    ) -> list[control.StoredEvent]:
        """The newest events first."""
        with self.connect() as conn:
            return control.events(
                conn, since_ts=since_ts, until_ts=until_ts, kind=kind, subject=subject,
                limit=limit,
            )  # fmt: skip

    def events_after(self, after_id: int = 0, *, limit: int = 1000) -> list[control.StoredEvent]:
        with self.connect() as conn:
            return control.events_after(conn, after_id, limit=limit)

    def control_version(self) -> int:
        with self.connect() as conn:
            return control.control_version(conn)

    def get_control(self, key: str) -> control.ControlEntry | None:
        with self.connect() as conn:
            return control.get_control(conn, key)

    def control_snapshot(self) -> control.ControlSnapshot:
        with self.connect() as conn:
            return control.control_snapshot(conn)

    def set_control(
        self, key: str, value: Any, *, by: str, expected_version: int | None = None
    ) -> int:
        with self.begin() as conn:
            return control.set_control(
                conn,
                key,
                value,
                by=by,
                now=self.clock.now(),
                expected_version=expected_version,
                native_upsert=self.native_upsert,
            )

    def listen_control(self, on_change, on_state=None) -> Any:
        """On PostgreSQL, a ControlListener calling `on_change` (from its thread) whenever
        the control plane moves, and `on_state("polling" | "notify")` when its connection
        is lost or back; None elsewhere (SQLite has no notifications: poll)."""
        if self.engine.dialect.name != "postgresql":
            return None
        from axtui.store.pg_notify import ControlListener

        return ControlListener(self.engine, on_change, on_state)

    def delete_control(self, key: str) -> bool:
        with self.begin() as conn:
            return control.delete_control(conn, key, native_upsert=self.native_upsert)


def open_store(url: str = DEFAULT_URL, *, clock: Clock | None = None,
               cache_kib: int | None = None) -> Store:
    """Connect (any SQLAlchemy URL), set SQLite up for several processes, bring the schema
    to this axtui's (created, or migrated with Alembic; SchemaError if it cannot be used).
    `cache_kib` bounds SQLite's page cache per connection (default: a writer's 32 MiB)."""
    sa_url = make_url(url)
    if sa_url.drivername == "postgresql":  # SQLAlchemy's default there is psycopg2: use 3
        sa_url = sa_url.set(drivername="postgresql+psycopg")
    backend = sa_url.get_backend_name()
    if backend != "sqlite":
        engine = (postgres.create_postgres_engine(sa_url) if backend == "postgresql"
                  else create_engine(sa_url, pool_pre_ping=True))
        store = Store(engine, clock=clock)
        try:
            store.create_tables()
        except BaseException:
            store.close()
            raise
        return store
    in_memory = sqlite.is_in_memory(sa_url)
    engine = sqlite.create_sqlite_engine(sa_url, cache_kib or sqlite.CACHE_KIB)
    store = Store(engine, clock=clock, shared_connection=in_memory)
    try:
        store.create_tables()
    except BaseException:
        store.close()
        raise
    store.max_params = sqlite.max_params(engine)
    if not in_memory:
        store._checkpointer = sqlite.WalCheckpointer(engine)
    return store
