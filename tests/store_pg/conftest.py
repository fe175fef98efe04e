"""One real PostgreSQL server per test session, a fresh database per test.

Skips (with the reason) when this machine has no PostgreSQL binaries; `.ci/run` installs
Debian's `postgresql` and sets AXTUI_REQUIRE_POSTGRES=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os

import pytest

from axtui.store import open_store
from tests.servers.postgres import PostgresServer, PostgresUnavailable, start_postgres

TEMPLATE = "axtui_store_template"


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = start_postgres()
    except PostgresUnavailable as why:
        if os.environ.get("AXTUI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"AXTUI_REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(f"PostgreSQL tests need a server: {why}")
    try:
        open_store(server.create_database(TEMPLATE)).close()  # a new store, as open_store makes it
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer):
    """A fresh database holding a new, empty store (a copy of one open_store made; dropped
    after the test)."""
    url = pg_server.create_database(template=TEMPLATE)
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture
def pg_empty_url(pg_server: PostgresServer):
    """A fresh database with nothing in it (not even the store's tables)."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


# The modules here re-run the SQLite modules' tests on PostgreSQL by importing them; a test
# that opens no PostgreSQL store (a serializer, an SQLite pragma) would only run twice.
PG_FIXTURES = {"pg_url", "pg_empty_url", "pg_server"}


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0]
    duplicates = [item for item in items if str(item.path).startswith(here)
                  and _imported(item)
                  and not PG_FIXTURES & set(getattr(item, "fixturenames", ()))]
    if duplicates:
        config.hook.pytest_deselected(items=duplicates)
        dropped = {id(item) for item in duplicates}
        items[:] = [item for item in items if id(item) not in dropped]


def _imported(item) -> bool:
    """A test function defined in another module (tests/store/...) and imported here."""
    function = getattr(item, "function", None)
    module = getattr(item, "module", None)
    return function is not None and module is not None and (
        function.__module__ != module.__name__)
