"""PostgreSQL connection setup: with sqlite.py, the modules that know which server the store
is on (pg_notify.py holds the control plane's LISTEN/NOTIFY).

SUM() over a BIGINT column is NUMERIC in PostgreSQL, which psycopg reads as Decimal; SQLite
gives an int. The store's sums (counts, tokens, nano-dollars) are whole numbers that code
adds to ints and floats, so a NUMERIC with no fraction is read as an int (exact, like
SQLite's); one with a fraction (an AVG) stays a Decimal.
"""

from __future__ import annotations

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
