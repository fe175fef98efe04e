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
# psycopg's executemany sends one Bind/Execute per row (~100 us of client work a row). One
# INSERT ... SELECT FROM unnest(array per column) carries a whole batch in one statement, its
# arrays sent in binary (%b: text arrays would escape every JSON string with a regex). COPY
# measured no faster, and its errors would bypass SQLAlchemy's (the recorder's halving
# needs an IntegrityError for a duplicate id). Rows of one upsert have distinct keys (the
# rollups are summed per key in memory first), as ON CONFLICT DO UPDATE requires.


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

