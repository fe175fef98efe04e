"""Bulk statements: many rows per trip into the database, with plain tuples.

Where the paramstyle is positional (SQLite's `?`), rows go in multi-row `VALUES` statements
of up to `ROWS_PER_STATEMENT` rows: SQLite gives up the GIL once per statement, and with
another thread busy each return to Python can wait a whole switch interval, so one trip per
row (executemany) starves the writer. PostgreSQL (psycopg) gets a binary COPY for plain
inserts and one upsert statement per batch over arrays (postgres.py); other named paramstyles
get the driver's executemany.

Counters are added with `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n` on SQLite
and PostgreSQL; other dialects get `UPDATE ... SET n = n + ?`, then an INSERT where no row
matched (a racing insert fails the transaction; the recorder retries the batch, which then
finds the row). Never a read-modify-write in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table, and_, bindparam
from sqlalchemy.dialects import postgresql, sqlite

NATIVE_UPSERT_DIALECTS = frozenset({"sqlite", "postgresql"})
_UPSERT_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
# Larger multi-row statements measured slower per row in SQLite.
ROWS_PER_STATEMENT = 200
# Positional paramstyles whose placeholders carry no number, so a VALUES group repeats as is.
_PLACEHOLDERS = {"qmark": "?", "format": "%s"}


@lru_cache(maxsize=256)
def _statement(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    conflict_keys: tuple[str, ...] | None,
    rows_n: int,
) -> tuple[str, tuple[int, ...] | None]:
    """SQL for `rows_n` rows (0: one row, named parameters) and, when positional, where
    each parameter of a row comes from in a tuple ordered like `columns`."""
    placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
    if rows_n > 1 and placeholder is not None:
        # The one-row statement with its VALUES group repeated: compiling thousands of
        # bind parameters took SQLAlchemy up to 0.2 s per statement size.
        one, order = _statement(dialect, table, columns, conflict_keys, 1)
        group = "(" + ", ".join([placeholder] * len(columns)) + ")"
        if one.count(group) == 1:
            return one.replace(group, ", ".join([group] * rows_n)), order
    base: Any = table.insert() if conflict_keys is None else _UPSERT_INSERTS[dialect.name](table)
    if rows_n:
        base = base.values([dict.fromkeys(columns)] * rows_n)
    stmt = base
    if conflict_keys is not None:
        added = {c: table.c[c] + base.excluded[c] for c in columns if c not in conflict_keys}
        stmt = base.on_conflict_do_update(index_elements=list(conflict_keys), set_=added)
    compiled = stmt.compile(dialect=dialect, column_keys=None if rows_n else list(columns))
    if not rows_n:
        return str(compiled), None
    where = {f"{c}_m0": i for i, c in enumerate(columns)} | {c: i for i, c in enumerate(columns)}
    return str(compiled), tuple(
        where[name] for name in (compiled.positiontup or ())[: len(columns)]
    )


def execute_rows(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple],
    *,
    conflict_keys: tuple[str, ...] | None = None,
    max_params: int = 0,
    rows_per_statement: int = ROWS_PER_STATEMENT,
) -> None:
    """INSERT (or, with conflict_keys, upsert-add) rows given as tuples ordered like columns.

    `max_params` is the database's bound-parameter limit; 0 means one row per statement.
    `rows_per_statement` caps a statement's rows (a writer thread beside a busy one wants
    fewer, bigger statements: each hands the GIL back once).
    """
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        from axtui.store import postgres

        if conflict_keys is None:
            postgres.copy_rows(conn, table, columns, rows)
        else:
            postgres.execute_rows(conn, table, columns, rows, conflict_keys)
        return
    per_statement = min(rows_per_statement, max_params // len(columns))
    identity = tuple(range(len(columns)))
    if not dialect.positional:
        sql, _ = _statement(dialect, table, columns, conflict_keys, 0)
        conn.exec_driver_sql(sql, [dict(zip(columns, row, strict=True)) for row in rows])
        return
    if per_statement <= 1:  # one row a statement, its parameters in the compiled order
        sql, order = _statement(dialect, table, columns, conflict_keys, 1)
        params: Any = rows if order == identity else list(map(_getter(order), rows))
        conn.exec_driver_sql(sql, params)
        return
    start = 0
    for size in chunk_sizes(len(rows), per_statement):
        chunk = rows[start : start + size]
        start += size
        sql, order = _statement(dialect, table, columns, conflict_keys, size)
        if order != identity:  # the compiled statement's parameter order, by a C getter
            chunk = list(map(_getter(order), chunk))
        conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))


@lru_cache(maxsize=64)
def _getter(order: tuple[int, ...]) -> itemgetter:
    """Reorders a row tuple; always returns a tuple (itemgetter of one index would not)."""
    if len(order) == 1:
        i = order[0]
        return lambda row: (row[i],)  # type: ignore[return-value]
    return itemgetter(*order)


def chunk_sizes(n: int, per_statement: int) -> list[int]:
    """Statement sizes for `n` rows: full statements, then the rest in powers of two. A
    statement is compiled once per size (SQLAlchemy's compiler is ~25% of a write's CPU),
    so sizes come from a small fixed set rather than whatever remainder a batch leaves."""
    sizes = [per_statement] * (n // per_statement)
    rest = n % per_statement
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


def increment(
    conn: Connection,
    table: Table,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    rows: Sequence[tuple],
    *,
    native: bool | None = None,
    max_params: int = 0,
) -> None:
    """For each row (key values, then counter deltas): create it, or add to the stored one."""
    if not rows:
        return
    if native is None:
        native = conn.dialect.name in NATIVE_UPSERT_DIALECTS
    if native:
        execute_rows(conn, table, keys + counters, rows, conflict_keys=keys, max_params=max_params)
        return
    # Bind names must differ from column names in a SET clause, hence the prefixes.
    update = (
        table.update()
        .where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys)))
        .values({c: table.c[c] + bindparam(f"d_{c}") for c in counters})
    )
    for row in rows:
        params = {f"k_{k}": v for k, v in zip(keys, row, strict=False)}
        params |= {f"d_{c}": v for c, v in zip(counters, row[len(keys) :], strict=True)}
        if conn.execute(update, params).rowcount == 0:
            conn.execute(table.insert(), dict(zip(keys + counters, row, strict=True)))
