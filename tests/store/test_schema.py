"""The store's schema version: a new store is made at the newest revision, a store made
before migrations is checked and stamped (and gains what it lacks), one from a newer axtui
is refused in one line. Real SQLite files (tests/store_pg runs the same on PostgreSQL)."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from axtui.store import open_store
from axtui.store.schema import HEAD, MIGRATIONS, VERSION_TABLE, SchemaError, models
from tests.store.factory import T0, record


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'axtui.db'}"


def versions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for sql in statements:
                conn.execute(text(sql))
    finally:
        engine.dispose()


def legacy_store(url: str) -> None:
    """A store as every axtui before migrations left it: today's tables, no version table,
    two records in it."""
    with open_store(url) as store:
        store.write_records([record(id="old-1"), record(id="old-2", started_at=T0 + 1)])
    execute(url, f"DROP TABLE {VERSION_TABLE}")


def test_a_new_store_is_made_at_the_newest_revision(url):
    with open_store(url) as store:
        assert versions(url) == [HEAD]
        assert store.create_tables() == "current"


def test_the_newest_revision_is_the_last_migration_shipped():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_the_migrations_build_the_tables_the_models_describe(url):
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            models()
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
            assert [d for d in diff if d[0] != "remove_table"] == []
            assert set(inspect(conn).get_table_names()) == set(models()) | {VERSION_TABLE}
    finally:
        engine.dispose()
    with open_store(url) as store:  # a store the migrations built opens as current
        assert store.create_tables() == "current"


def test_a_store_made_before_migrations_is_stamped_and_keeps_its_records(url):
    legacy_store(url)
    with open_store(url) as store:
        assert versions(url) == [HEAD]
        assert store.get_record("old-1") is not None
        assert store.route_stats(T0 - 60)["chat"].requests == 2


def test_a_store_from_before_newer_tables_and_columns_gains_them(url, caplog):
    legacy_store(url)
    execute(url, "DROP TABLE agent_checkpoint", "DROP TABLE agent", "DROP TABLE process_status",
            "ALTER TABLE request DROP COLUMN optimal_cost_nano",
            "ALTER TABLE alert_state DROP COLUMN notifications_failed",
            "DROP INDEX ix_event_kind")
    caplog.set_level(logging.WARNING, logger="axtui.store.schema")
    with open_store(url) as store:
        names = set(inspect(store.engine).get_table_names())
        assert {"agent", "agent_checkpoint", "process_status"} <= names
        columns = {c["name"] for c in inspect(store.engine).get_columns("request")}
        assert "optimal_cost_nano" in columns
        assert "ix_event_kind" in {ix["name"] for ix in inspect(store.engine).get_indexes("event")}
        assert store.get_record("old-2") is not None
        store.write_records([record(id="new-1")])  # the added columns take writes
        assert store.route_stats(T0 - 60)["chat"].requests == 3
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "request.optimal_cost_nano" in warning and "alert_state.notifications_failed" in warning
    assert versions(url) == [HEAD]


def test_a_store_whose_tables_cannot_be_upgraded_in_place_is_refused_in_one_line(url):
    legacy_store(url)
    # rollups before the `res` key column (1-minute rows only): not something ADD COLUMN fixes
    execute(url, "DROP TABLE rollups",
            "CREATE TABLE rollups (period BIGINT NOT NULL, route VARCHAR NOT NULL, "
            "deployment VARCHAR NOT NULL, requests BIGINT NOT NULL, "
            "PRIMARY KEY (period, route, deployment))")
    with pytest.raises(SchemaError) as refused:
        open_store(url)
    message = str(refused.value)
    assert "\n" not in message
    assert "rollups.res is missing" in message and "too old to upgrade in place" in message
    execute(url, "SELECT 1")
    assert not inspect(create_engine(url)).has_table(VERSION_TABLE)  # nothing was stamped


def test_a_store_from_a_newer_axtui_is_refused_in_one_line(url):
    open_store(url).close()
    execute(url, f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'")
    with pytest.raises(SchemaError) as refused:
        open_store(url)
    message = str(refused.value)
    assert "\n" not in message
    assert "0099_future" in message and "newer axtui" in message and HEAD in message
    assert versions(url) == ["0099_future"]  # left as it was


def test_a_newer_store_is_one_line_and_exit_2_on_the_cli(url):
    open_store(url).close()
    execute(url, f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'")
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "trace", "--store", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "newer axtui" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_processes_opening_a_new_store_at_once_make_it_once(url):
    opener = "import sys; from axtui.store import open_store; open_store(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", opener, url], stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert versions(url) == [HEAD]
    with open_store(url) as store:
        store.write_records([record(id="after")])
        assert store.get_record("after") is not None


def test_a_store_at_the_baseline_revision_is_upgraded_and_gains_the_feedback_table(url):
    with open_store(url) as store:
        store.write_records([record(id="rated-later")])
    execute(url, "DROP TABLE feedback", f"UPDATE {VERSION_TABLE} SET version_num = "
            "'0001_baseline'")
    with open_store(url) as store:
        assert versions(url) == [HEAD]
        store.rate(store.get_record("rated-later"), 0.5, "ok")
        assert [r.score for r in store.ratings()] == [0.5]
