"""PostgreSQL connection setup: with sqlite.py, the modules that know which server the store
is on (pg_notify.py holds the control plane's LISTEN/NOTIFY).

SUM() over a BIGINT column is NUMERIC in PostgreSQL, which psycopg reads as Decimal; SQLite
gives an int. The store's sums (counts, tokens, nano-dollars) are whole numbers that code
adds to ints and floats, so a NUMERIC with no fraction is read as an int (exact, like
SQLite's); one with a fraction (an AVG) stays a Decimal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL


def _integral_numeric_loader():
    from psycopg.types.numeric import NumericLoader

    class IntegralNumericLoader(NumericLoader):
        def load(self, data: Any) -> Any:
            raw = bytes(data)
            if raw.lstrip(b"-").isdigit():
                return int(raw)
            return super().load(data)

    return IntegralNumericLoader


def create_postgres_engine(url: URL) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.driver == "psycopg":
        loader = _integral_numeric_loader()

        @event.listens_for(engine, "connect")
        def _numeric_as_int(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.adapters.register_loader("numeric", loader)

    return engine


# -- bulk writes ------------------------------------------------------------------------
# psycopg's executemany sends one Bind/Execute per row (~100 us of client work a row). Plain
# inserts (the request rows) go by binary COPY: one stream of rows, no statement per row
# and no text escaping. Upserts (rollups, counters) cannot be a COPY: they are one
# INSERT ... SELECT FROM unnest(array per column) a batch, its arrays sent in binary (%b:
# text arrays would escape every JSON string with a regex). Rows of one upsert have distinct
# keys (the rollups are summed per key in memory first), as ON CONFLICT DO UPDATE requires.
#
# A COPY runs on the driver's connection, beside SQLAlchemy, inside the caller's transaction
# (so with the batch's rollups and counters: all or nothing). Its errors are raised as the
# SQLAlchemy exceptions an INSERT would have raised (IntegrityError for a duplicate id,
# DataError for a bad value, OperationalError for a lost server): the recorder's halving and
# retries depend on them. Binary COPY would wrap an integer too large for an int4 column
# around (2**31 arrives as -2**31) where an INSERT refuses it, so integer columns are checked
# here first and such a value is a DataError naming the column and the row.

INT_RANGES = {"int4": (-(2**31), 2**31 - 1), "int8": (-(2**63), 2**63 - 1)}


def _copy_type(column_type: Any) -> str:
    """The binary COPY type of a column (a varchar takes text's binary form)."""
    from sqlalchemy import BigInteger, Boolean, Float, Integer

    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, BigInteger):
        return "int8"
    if isinstance(column_type, Integer):
        return "int4"
    if isinstance(column_type, Float):
        return "float8"
    return "text"


@lru_cache(maxsize=32)
def _copy_statement(table: Any, columns: tuple[str, ...], quote: Callable[[str], str]
                    ) -> tuple[str, tuple[str, ...]]:
    types = tuple(_copy_type(table.c[c].type) for c in columns)
    names = ", ".join(quote(c) for c in columns)
    return f"COPY {quote(table.name)} ({names}) FROM STDIN (FORMAT BINARY)", types


def _copy_data_error(sql: str, table: Any, why: str, *, out_of_range: bool) -> Exception:
    """A bad value caught before (or while) it went out, as the DataError an INSERT of it
    would have raised (its driver error is what the recorder reports)."""
    from psycopg import errors
    from sqlalchemy.exc import DataError

    kind = errors.NumericValueOutOfRange if out_of_range else errors.InvalidParameterValue
    return DataError(sql, None, kind(f"{table.name}: {why}"), hide_parameters=True)


def _check_int_ranges(table: Any, columns: tuple[str, ...], types: tuple[str, ...],
                      rows: Sequence[tuple], sql: str) -> None:
    """Every integer in range for its column's type, or a DataError naming the first that
    is not (its column and its row's id). A hot loop (~1 us a row when it walked every
    value in Python): each integer column is gathered once, at C speed, and its min and max
    compared with the bounds; a value found out of range is then looked for."""
    for i, (column, pg_type) in enumerate(zip(columns, types, strict=True)):
        bounds = INT_RANGES.get(pg_type)
        if bounds is None:
            continue
        lo, hi = bounds
        values = list(map(itemgetter(i), rows))
        present = [v for v in values if v is not None] if None in values else values
        try:
            if not present or (lo <= min(present) and max(present) <= hi):
                continue
        except TypeError:  # not a number: the COPY itself says which (see copy_rows)
            continue
        j, bad = next((j, v) for j, v in enumerate(values) if v is not None and not lo <= v <= hi)
        who = f" (row {rows[j][columns.index('id')]!r})" if "id" in columns else ""
        raise _copy_data_error(sql, table, f"{bad} is out of range for column {column} "
                               f"({'integer' if pg_type == 'int4' else 'bigint'}){who}",
                               out_of_range=True)


def copy_rows(conn: Any, table: Any, columns: tuple[str, ...], rows: Sequence[tuple]) -> None:
    """INSERT rows given as tuples ordered like columns, by one binary COPY inside the
    connection's transaction; errors as SQLAlchemy's (see above)."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    sql, types = _copy_statement(table, columns, conn.dialect.identifier_preparer.quote)
    _check_int_ranges(table, columns, types, rows, sql)
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            copy.set_types(types)
            write = copy.write_row
            for row in rows:
                write(row)
    except psycopg.Error as err:
        lost = conn.dialect.is_disconnect(err, driver, None)
        wrapped = DBAPIError.instance(sql, None, err, psycopg.Error, hide_parameters=True,
                                      connection_invalidated=lost, dialect=conn.dialect)
        if lost:
            conn.invalidate(err)
        raise wrapped from err
    except (TypeError, ValueError, OverflowError) as err:  # a value the column cannot take
        raise _copy_data_error(sql, table, f"a value its column cannot take: "
                               f"{type(err).__name__}: {err}", out_of_range=False) from err


def _array_of(column_type: Any) -> tuple[str, Any]:
    """The PostgreSQL array type for a column, and the coercion its values need (an int
    in a float column, a bool in an int one, would make psycopg pick another array type)."""
    from sqlalchemy import BigInteger, Boolean, Float, Integer

    if isinstance(column_type, Boolean):
        return "boolean[]", bool
    if isinstance(column_type, BigInteger):
        return "bigint[]", int
    if isinstance(column_type, Integer):
        return "integer[]", int
    if isinstance(column_type, Float):
        return "double precision[]", float
    return "text[]", str


@lru_cache(maxsize=128)
def _unnest_statement(table: Any, columns: tuple[str, ...], conflict_keys: tuple[str, ...] | None,
                      quote: Callable[[str], str]) -> tuple[str, tuple[Any, ...]]:
    arrays = [_array_of(table.c[c].type) for c in columns]
    names = ", ".join(quote(c) for c in columns)
    unnest = ", ".join(f"%b::{array}" for array, _ in arrays)
    sql = f"INSERT INTO {quote(table.name)} ({names}) SELECT * FROM unnest({unnest})"
    if conflict_keys is not None:
        added = ", ".join(f"{quote(c)} = {quote(table.name)}.{quote(c)} + excluded.{quote(c)}"
                          for c in columns if c not in conflict_keys)
        sql += f" ON CONFLICT ({', '.join(quote(k) for k in conflict_keys)}) DO UPDATE SET {added}"
    return sql, tuple(coerce for _, coerce in arrays)


def execute_rows(conn: Any, table: Any, columns: tuple[str, ...], rows: Sequence[tuple],
                 conflict_keys: tuple[str, ...] | None = None) -> None:
    """INSERT (or upsert-add) rows given as tuples ordered like columns, in one statement."""
    sql, coercions = _unnest_statement(table, columns, conflict_keys,
                                       conn.dialect.identifier_preparer.quote)
    params = tuple([None if v is None else coerce(v) for v in values]
                   for coerce, values in zip(coercions, zip(*rows, strict=True), strict=True))
    conn.exec_driver_sql(sql, params)

