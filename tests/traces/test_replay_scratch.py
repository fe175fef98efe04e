"""The counterfactual's scratch recorder: rollups only, written at each flush, exactly the
rollups the full recorder writes for the same records (what the alert evaluator reads)."""

from __future__ import annotations

from sqlalchemy import select

from axtui.records import ErrorKind
from axtui.store.db import open_store
from axtui.store.tables import RequestRow, rollup_error_table, rollup_hist_table, rollup_table
from axtui.traces.replay.scratch import RollupRecorder
from tests.store.factory import T0, attempt, record


def _records():
    return [
        record(started_at=T0 + 1),
        record(started_at=T0 + 2, ttft_ms=120.0),
        record(started_at=T0 + 70, attempts=[
            attempt("gemini/gemini-2.5-flash", started_at=T0 + 70,
                    error_kind=ErrorKind.rate_limited),
            attempt(started_at=T0 + 70.5)]),
        record(started_at=T0 + 71, attempts=[
            attempt(started_at=T0 + 71, error_kind=ErrorKind.server)]),
        record(started_at=T0 + 200, attempts=[], user="bob"),  # refused by a quota
    ]


def _rollups(store):
    with store.connect() as conn:
        return [sorted(tuple(row) for row in conn.execute(select(t)))
                for t in (rollup_table, rollup_hist_table, rollup_error_table)]


def _requests(store) -> int:
    with store.connect() as conn:
        return len(conn.execute(select(RequestRow.id)).all())


def test_the_scratch_recorder_writes_the_rollups_the_full_recorder_writes(tmp_path):
    records = _records()
    full = open_store(f"sqlite:///{tmp_path}/full.db")
    full.write_records(records)
    scratch = open_store(f"sqlite:///{tmp_path}/scratch.db")
    rec = RollupRecorder(scratch)
    for r in records[:2]:
        assert rec.submit(r)
    assert rec.flush()  # a flush between records: the rollups add up across writes
    for r in records[2:]:
        assert rec.submit(r)
    rec.close()
    assert _rollups(scratch) == _rollups(full)
    assert _requests(scratch) == 0  # no raw rows: nobody reads them in a scratch store
    assert rec.stats().written == len(records)
    assert rec.stats().queued == 0


def test_nothing_is_written_until_a_flush(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/scratch.db")
    rec = RollupRecorder(store)
    rec.submit(_records()[0])
    assert _rollups(store) == [[], [], []]
    assert rec.stats().queued == 1
    rec.flush()
    assert _rollups(store)[0] != []


def test_a_closed_scratch_recorder_refuses_and_counts(tmp_path):
    rec = RollupRecorder(open_store(f"sqlite:///{tmp_path}/scratch.db"))
    rec.close()
    assert rec.submit(_records()[0]) is False
    assert rec.stats().dropped == 1
