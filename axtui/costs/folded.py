"""Spend by user, key and complexity, folded from raw `request` rows into hour and day rows.

The rollups carry route and deployment only; summing raw rows by user over a month read a
million rows (seconds). `fold` adds rows past a watermark (the last folded `seq`) into
`cost_rollups` in SQL, a chunk per transaction; reads take whole days and hours inside a
range from there, and raw rows only for the unfolded tail (seq above the watermark) and the
partial hours at the edges. So answers are exact whether or not a fold has run; folding
only makes them fast. Run `fold` periodically (the host's job) and before a batch of reads.

Why seq: SQLite commits writers one at a time, so once seq N is visible every row below it
is too (store/queries.py relies on the same for the live tail). Deleting raw rows
(retention) leaves folded rows alone.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    cast,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

from axtui.store.rollups import DAY_S, HOUR_S, MINUTE_S
from axtui.store.tables import CounterRow, RequestRow

log = logging.getLogger(__name__)
WATERMARK = "costs.folded_seq"
CHUNK_ROWS = 20_000  # rows folded per transaction: the write lock is held briefly
DIMS = ("user", "key", "complexity")
ROUTED = ("complexity",)  # kept per route (recommendations); user and key rows use route ""
LEVELS = (DAY_S, HOUR_S)
_R = RequestRow.__table__.c

cost_table = Table(
    "cost_rollups", SQLModel.metadata,
    Column("dim", String, primary_key=True),  # user | key | complexity
    Column("res", Integer, primary_key=True, autoincrement=False),  # 3600 or 86400
    Column("period", BigInteger, primary_key=True, autoincrement=False),
    Column("route", String, primary_key=True),  # "" for user and key (fewer rows)
    Column("value", String, primary_key=True),  # "" where the record has none
    Column("requests", BigInteger, nullable=False, default=0),
    Column("cost_nano", BigInteger, nullable=False, default=0),
    Column("optimal_cost_nano", BigInteger, nullable=False, default=0),
    sqlite_with_rowid=False,
)
# one user's or key's hours (a budget's projection) without reading everyone's; not
# covering, so a fold's increments leave it alone (see dim_rows for how reads get it)
_by_value = Index("cost_rollups_by_value", *(cost_table.c[n] for n in (
    "dim", "value", "period")))
_C = cost_table.c
_COUNTER = CounterRow.__table__


def dim_column(conn: Connection, dim: str) -> Any:
    if dim == "user":
        return _R.user
    if dim == "key":
        return _R.key_id
    if conn.dialect.name == "postgresql":
        return func.jsonb_extract_path_text(cast(_R.record, postgresql.JSONB), "complexity")
    return func.json_extract(_R.record, "$.complexity")


def _floor(conn: Connection, x: Any) -> Any:
    """floor(x) as an integer: SQLite's CAST truncates (times are positive, so it floors);
    PostgreSQL's rounds, which would put a request in the next hour."""
    if conn.dialect.name == "sqlite":
        return cast(x, Integer)
    return cast(func.floor(x), BigInteger)


def _insert(conn: Connection):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)


def ensure(conn: Connection) -> None:
    """Create the table and the watermark (a store made before they existed); commits."""
    cost_table.create(conn, checkfirst=True)
    _by_value.create(conn, checkfirst=True)
    conn.execute(_insert(conn)(_COUNTER).values(name=WATERMARK, n=0).on_conflict_do_nothing())
    conn.commit()


def watermark(conn: Connection) -> int:
    """The last folded seq; 0 when nothing is folded (every row is read raw). The row is
    made with the table (`ensure`), so a watermark above 0 means the table is there."""
    return int(conn.execute(select(_COUNTER.c.n).where(_COUNTER.c.name == WATERMARK))
               .scalar() or 0)


def fold(store: Any, *, max_rows: int | None = None) -> int:
    """Fold raw rows past the watermark into hour and day rows; returns rows folded. Safe
    with several processes folding at once: each chunk moves the watermark by compare-and-
    set in the transaction that adds its rows, so a chunk is folded exactly once."""
    done = 0
    with store.connect() as conn:
        ensure(conn)
        while max_rows is None or done < max_rows:
            w = watermark(conn)
            newest = int(conn.execute(select(func.max(_R.seq))).scalar() or 0)
            if newest <= w:
                break
            chunk = CHUNK_ROWS if max_rows is None else min(CHUNK_ROWS, max_rows - done)
            m = min(newest, w + chunk)
            moved = conn.execute(update(_COUNTER).where(_COUNTER.c.name == WATERMARK,
                                                        _COUNTER.c.n == w).values(n=m))
            if moved.rowcount != 1:  # another process folded this chunk first
                conn.rollback()
                continue
            done += _stage(conn, w, m)
            for dim in DIMS:
                for res in LEVELS:
                    _fold_chunk(conn, dim, res)
            conn.commit()
    return done


def prune(store: Any, now: float, policy: Any = None) -> int:
    """Delete folded hours and days older than the retention policy's hour_days and
    day_days (the rollups' ages), a day of periods per transaction; returns rows deleted.
    The host runs it beside store/retention.py's `prune`."""
    from axtui.config import RetentionConfig

    policy = policy or RetentionConfig()
    total = 0
    for res, days in ((HOUR_S, policy.hour_days), (DAY_S, policy.day_days)):
        end = int(now - days * DAY_S) - res  # keep a period while any of it is within the age
        with store.connect() as conn:
            first = conn.execute(select(func.min(_C.period)).where(_C.res == res)).scalar()
        upto = None if first is None else int(first)
        while upto is not None and upto <= end:
            upto = min(upto + DAY_S, end)
            with store.begin() as conn:
                total += conn.execute(delete(cost_table).where(
                    _C.res == res, _C.period <= upto)).rowcount
            if upto >= end:
                break
    return total


# The chunk's rows, read (and their JSON parsed) once for the six sums below.
_stage_table = Table(
    "cost_chunk", MetaData(),
    Column("started_at", Float), Column("route", String), Column("user", String),
    Column("key", String), Column("complexity", String), Column("cost_nano", BigInteger),
    Column("optimal_cost_nano", BigInteger),
    prefixes=["TEMPORARY"],
)
_S = _stage_table.c


def _stage(conn: Connection, lo_seq: int, hi_seq: int) -> int:
    """The rows with seq in (lo_seq, hi_seq] into the stage table; returns how many."""
    _stage_table.create(conn, checkfirst=True)
    conn.execute(_stage_table.delete())
    # an INSERT's rowcount is kept only when asked for (psycopg under SQLAlchemy 2.1)
    return conn.execute(_stage_table.insert().execution_options(
        preserve_rowcount=True).from_select(
        [c.name for c in _stage_table.c],
        select(_R.started_at, _R.route, _R.user, _R.key_id, dim_column(conn, "complexity"),
               _R.cost_nano, func.coalesce(_R.optimal_cost_nano, _R.cost_nano))
        .where(_R.seq > lo_seq, _R.seq <= hi_seq))).rowcount


def _fold_chunk(conn: Connection, dim: str, res: int) -> None:
    period = _floor(conn, _S.started_at / res) * res
    value = func.coalesce(_S[dim], "")
    route = _S.route if dim in ROUTED else literal("")
    src = (select(literal(dim), literal(res), period, route, value, func.count(),
                  func.sum(_S.cost_nano), func.sum(_S.optimal_cost_nano))
           .where(true())  # SQLite's upsert after a SELECT needs a WHERE (a parsing rule)
           .group_by(period, route, value))
    ins = _insert(conn)(cost_table).from_select(
        ["dim", "res", "period", "route", "value", "requests", "cost_nano",
         "optimal_cost_nano"], src)
    conn.execute(ins.on_conflict_do_update(
        index_elements=["dim", "res", "period", "route", "value"],
        set_={c: _C[c] + ins.excluded[c] for c in ("requests", "cost_nano",
                                                    "optimal_cost_nano")}))


def tile(lo: int, hi: int, levels: tuple[int, ...] = LEVELS
         ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Whole minutes [lo, hi) as folded rows (res, start, end), coarsest first, and the
    minute edges left over for raw rows."""
    rows: list[tuple[int, int, int]] = []
    edges: list[tuple[int, int]] = []

    def go(a: int, b: int, levels: tuple[int, ...]) -> None:
        if a >= b:
            return
        if not levels:
            edges.append((a, b))
            return
        res = levels[0]
        first, last = -(-a // res) * res, b // res * res
        if first >= last:
            go(a, b, levels[1:])
            return
        go(a, first, levels[1:])
        rows.append((res, first, last))
        go(last, b, levels[1:])

    go(lo, hi, levels)
    return rows, edges


def dim_rows(conn: Connection, dim: str, lo: int, hi: int, *, by_route: bool = False,
             value: str | None = None, step_s: int | None = None) -> list[tuple[Any, ...]]:
    """(bucket?, route?, value, requests, cost_nano, optimal_cost_nano) over whole minutes
    [lo, hi), with buckets on multiples of step_s (whole minutes) when given; by_route
    only for complexity.
    Exact: folded rows inside, raw rows for the tail and the edges. value "" is none."""
    if by_route and dim not in ROUTED:
        raise ValueError(f"spend by {dim} is not kept per route")
    levels = LEVELS if step_s is None else tuple(r for r in LEVELS if step_s % r == 0)
    w = watermark(conn)
    folded, edges = tile(lo, hi, levels) if w else ([], [(lo, hi)])
    sums: dict[tuple, list[int]] = {}

    def add(rows: Any) -> None:
        for *k, n, c, o in rows:
            s = sums.setdefault(tuple(k), [0, 0, 0])
            s[0] += int(n)
            s[1] += int(c or 0)
            s[2] += int(o or 0)

    def keys(bucket_of: Any, route: Any, val: Any) -> list[Any]:
        return (([bucket_of] if step_s else []) + ([route] if by_route else []) + [val])

    if folded:
        # One query per segment, each a plain key range: with several OR-ed ranges, or a
        # GROUP BY on the bare column, SQLite (without statistics) walks an index in value
        # order over every period instead. coalesce() keeps the grouping off that index.
        b = (_C.period // step_s * step_s) if step_s else None
        ks = keys(b, _C.route, func.coalesce(_C.value, ""))
        fixed = [_C.dim == dim] + ([] if value is None else [_C.value == value])
        # For one value, `res + 0` keeps SQLite off the clustered key (dim, res, period),
        # which would read every value's rows of the period, and onto (dim, value, period).
        res = _C.res if value is None else _C.res + 0
        for r, a, e in folded:
            q = (select(*ks, func.sum(_C.requests), func.sum(_C.cost_nano),
                        func.sum(_C.optimal_cost_nano))
                 .where(*fixed, res == r, _C.period >= a, _C.period < e))
            add(conn.execute(q.group_by(*ks)))
    col = func.coalesce(dim_column(conn, dim), "")
    rb = (_floor(conn, _R.started_at / step_s) * step_s) if step_s else None
    ks = keys(rb, _R.route, col)
    raw = select(*ks, func.count(), func.sum(_R.cost_nano),
                 func.sum(func.coalesce(_R.optimal_cost_nano, _R.cost_nano)))
    if value is not None:
        raw = raw.where(col == value)
    # the unfolded tail inside the folded part: by seq (the tail is the newest rows)
    inside = [and_(func.coalesce(_R.started_at, 0) >= a, func.coalesce(_R.started_at, 0) < e)
              for _, a, e in folded]
    if inside:
        add(conn.execute(raw.where(_R.seq > w, or_(*inside)).group_by(*ks)))
    # the edges, every row: by started_at
    edge = [and_(_R.started_at >= a, _R.started_at < e) for a, e in edges]
    add(conn.execute(raw.where(or_(*edge) if edge else false()).group_by(*ks)))
    return [(*k, n, c, o) for k, (n, c, o) in sums.items()]


__all__ = ["MINUTE_S", "cost_table", "dim_rows", "fold", "tile", "watermark"]
