"""A store on a real PostgreSQL server: opens from its URL and keeps what SQLite keeps."""

from __future__ import annotations

from axtui.store import Recorder, open_store
from tests.store.factory import T0, record


def test_a_postgresql_url_opens_a_store_that_round_trips_records(pg_url):
    with open_store(pg_url) as store:
        assert store.engine.dialect.name == "postgresql"
        rec = record(id="req-1")
        with Recorder(store) as recorder:
            recorder.submit(rec)
        assert store.get_record("req-1") == rec
        assert store.route_stats(T0 - 60)["chat"].requests == 1


def test_a_plain_postgresql_url_uses_psycopg_3(pg_url):
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with open_store(plain) as store:
        assert store.engine.dialect.driver == "psycopg"
        store.write_records([record(id="plain")])
        assert store.get_record("plain") is not None


def test_a_store_that_cannot_be_reached_is_one_line_on_the_cli_without_its_password():
    import subprocess
    import sys

    from tests.servers.postgres import _free_port

    url = f"postgresql+psycopg://bob:s3cret@127.0.0.1:{_free_port()}/nowhere"
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "trace", "--store", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "s3cret" not in done.stderr and "bob:***@127.0.0.1" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
