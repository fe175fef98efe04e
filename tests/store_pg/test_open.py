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
