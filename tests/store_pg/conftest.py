"""One real PostgreSQL server per test session, a fresh database per test.

Skips (with the reason) when this machine has no PostgreSQL binaries; `.ci/run` installs
Debian's `postgresql` so CI never skips.
"""

from __future__ import annotations

import pytest

from tests.servers.postgres import PostgresServer, PostgresUnavailable, start_postgres


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = start_postgres()
    except PostgresUnavailable as why:
        pytest.skip(f"PostgreSQL tests need a server: {why}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer):
    """A fresh, empty database on the session's server (dropped after the test)."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)
