"""Where a faithful replay writes: a child process for a big trace, this process for a
small one; the store ends the same either way, and a writer that dies is an error."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import func, select

from axtui.config import load_config
from axtui.store.db import open_store
from axtui.store.tables import RequestRow, rollup_table
from axtui.traces.replay import writer
from axtui.traces.replay.run import ReplayOptions, replay
from tests.traces.replay_helpers import cut


def stored(url: str) -> tuple:
    store = open_store(url)
    try:
        with store.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(RequestRow)).scalar()
            cost = conn.execute(select(func.sum(RequestRow.cost_nano))).scalar()
            rollups = conn.execute(select(rollup_table.c.res, func.sum(rollup_table.c.requests),
                                          func.sum(rollup_table.c.attempts))
                                   .group_by(rollup_table.c.res)).all()
        return rows, cost, sorted(map(tuple, rollups))
    finally:
        store.close()


def test_the_child_writer_stores_what_this_process_stores(tmp_path, monkeypatch):
    trace = str(cut("provider-outage", 1200, tmp_path / "t.jsonl.gz"))
    here = f"sqlite:///{tmp_path / 'here.db'}"
    inline = replay(ReplayOptions(trace=trace, config=load_config(), store_url=here))
    monkeypatch.setattr(writer, "CHILD_MIN_BYTES", 0)
    child = f"sqlite:///{tmp_path / 'child.db'}"
    spawned = []
    real = writer.ChildWriter
    monkeypatch.setattr(writer, "ChildWriter", lambda url: spawned.append(url) or real(url))
    out = replay(ReplayOptions(trace=trace, config=load_config(), store_url=child))
    assert spawned == [child]
    assert out == inline  # the same alerts, breakers, gates and summary
    assert stored(child) == stored(here)
    assert stored(child)[0] == 1200


def test_a_writer_child_that_dies_is_an_error_not_silence(tmp_path):
    w = writer.ChildWriter(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        w.sync()  # up and answering
        os.kill(w.pid, signal.SIGKILL)
        w.add({}, b'{"id": "x"}')
        with pytest.raises(writer.StoreWriteError, match="exited"):
            w.sync()
    finally:
        w.close()


def test_a_record_the_store_refuses_stops_the_replay_with_the_stores_reason(tmp_path,
                                                                            monkeypatch):
    from tests.store.factory import T0, record
    from tests.traces.replay_helpers import write

    twice = [record(id="same", started_at=T0), record(id="same", started_at=T0 + 1)]
    trace = str(write(tmp_path / "t.jsonl", twice))
    monkeypatch.setattr(writer, "CHILD_MIN_BYTES", 0)
    with pytest.raises(writer.StoreWriteError, match="UNIQUE constraint failed: request.id"):
        replay(ReplayOptions(trace=trace, config=load_config()))
