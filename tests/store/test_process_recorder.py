"""The process recorder: the same rows, rollups and trace lines as the thread recorder,
written from a child process; overflow, a dead child and a bad store counted, never silent."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import text

from axtui.records import ErrorKind, Outcome
from axtui.store import Recorder, open_store
from axtui.store.ingest import DROPPED_COUNTER, WRITTEN_COUNTER
from axtui.store.process_recorder import ProcessRecorder, make_recorder
from axtui.traces.jsonl import read_trace
from tests.store.factory import T0, attempt, record

TABLES = ("request", "rollups", "rollup_hist", "rollup_errors", "counter")


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'axtui.db'}"


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def dump(url: str) -> dict[str, list[tuple]]:
    store = open_store(url)
    try:
        with store.connect() as conn:
            rows = {t: conn.execute(text(f"SELECT * FROM {t}")).all() for t in TABLES}
    finally:
        store.close()
    return {t: sorted(map(tuple, rs), key=repr) for t, rs in rows.items()}


def varied_records(n: int) -> list:
    """Served, failed over, failed outright, refused; several minutes, routes and users."""
    out = []
    for i in range(n):
        start = T0 + (i % 180)
        kind = i % 4
        if kind == 0:
            attempts = [attempt(started_at=start, latency_ms=10.0 + i, ttft_ms=3.5)]
        elif kind == 1:
            attempts = [
                attempt(started_at=start, error_kind=ErrorKind.rate_limited, latency_ms=7.25),
                attempt("anthropic/claude-3-5-haiku", started_at=start, latency_ms=99.0 + i / 3),
            ]
        elif kind == 2:
            attempts = [attempt(started_at=start, error_kind=ErrorKind.server)]
        else:
            attempts = []
        r = record(
            started_at=start,
            route=("chat", "chat-large")[i % 2],
            attempts=attempts,
            user=None if i % 5 == 0 else f"user-{i % 7}",
            outcome=Outcome.rejected if kind == 3 else None,
        )
        if i % 11 == 0:  # a captured conversation, not ASCII
            r = r.model_copy(update={"messages": [{"role": "user", "content": f"héllo ✓ {i}"}]})
        out.append(r)
    return out


def test_rows_rollups_and_trace_are_identical_to_the_thread_recorder(tmp_path):
    records = varied_records(600)
    thread_url = f"sqlite:///{tmp_path / 'thread.db'}"
    process_url = f"sqlite:///{tmp_path / 'process.db'}"
    store = open_store(thread_url)
    # One batch each (long interval, large batch): float sums then add up in the same order.
    with Recorder(store, flush_interval_s=3600, trace_path=tmp_path / "thread.jsonl") as rec:
        assert all(rec.submit(r) for r in records)
    store.close()
    recorder = ProcessRecorder(
        process_url, flush_interval_s=3600, trace_path=tmp_path / "process.jsonl"
    )
    assert all(recorder.submit(r) for r in records)
    recorder.close()

    stats = recorder.stats()
    assert (stats.written, stats.traced, stats.dropped, stats.queued) == (600, 600, 0, 0)
    assert stats.last_error is None and stats.flushes == 1
    assert dump(process_url) == dump(thread_url)
    assert (tmp_path / "process.jsonl").read_bytes() == (tmp_path / "thread.jsonl").read_bytes()


def test_trace_lines_are_the_records_model_dump_json(tmp_path):
    path = tmp_path / "traces" / "run.jsonl"
    submitted = varied_records(40)
    with ProcessRecorder(f"sqlite:///{tmp_path / 'a.db'}", trace_path=path) as recorder:
        for r in submitted:
            recorder.submit(r)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [r.model_dump_json() for r in submitted]
    assert read_trace(path).records == submitted
    assert recorder.stats().traced == 40


def test_flush_makes_records_visible_to_another_reader(url):
    reader = open_store(url)
    with ProcessRecorder(url, flush_interval_s=3600) as recorder:
        assert recorder.ready(timeout=10)
        for i in range(250):
            assert recorder.submit(record(id=f"r-{i}"))
        assert recorder.flush(timeout=10)
        assert reader.get_record("r-249") is not None
        assert reader.counter(WRITTEN_COUNTER) == 250
        stats = recorder.stats()
        assert (stats.written, stats.queued, stats.flushes) == (250, 0, 1)
        assert stats.last_flush_at is not None
    reader.close()


def test_records_are_written_within_the_flush_interval_without_asking(url):
    with ProcessRecorder(url, flush_interval_s=0.05) as recorder:
        for _ in range(10):
            recorder.submit(record())
        assert wait_for(lambda: recorder.stats().written == 10)
        assert recorder.stats().queued == 0


async def test_aflush_and_aclose_do_not_block_the_loop(url):
    recorder = ProcessRecorder(url, flush_interval_s=3600)
    recorder.submit(record(id="a"))
    assert await recorder.aflush(timeout=10)
    for _ in range(7):
        recorder.submit(record())
    await recorder.aclose()
    assert recorder.stats().written == 8


def test_a_full_buffer_refuses_and_counts_every_record_it_drops(url):
    recorder = ProcessRecorder(url, flush_interval_s=3600, queue_max=10)
    accepted = [recorder.submit(record()) for _ in range(25)]
    assert accepted == [True] * 10 + [False] * 15
    stats = recorder.stats()
    assert (stats.refused, stats.dropped, stats.queued) == (15, 15, 10)
    recorder.close()
    assert recorder.stats().written == 10
    store = open_store(url)
    assert store.counter(DROPPED_COUNTER) == 15  # other processes see the drops
    store.close()


def test_records_a_stalled_child_has_not_written_count_toward_the_bound(url):
    recorder = ProcessRecorder(url, flush_interval_s=3600, queue_max=10)
    assert recorder.ready(timeout=10)
    os.kill(recorder.pid, signal.SIGSTOP)
    try:
        assert all(recorder.submit(record()) for _ in range(10))
        assert recorder.flush(timeout=0.3) is False  # handed off, never acknowledged
        assert recorder.submit(record()) is False
        stats = recorder.stats()
        assert (stats.queued, stats.refused, stats.written) == (10, 1, 0)
    finally:
        os.kill(recorder.pid, signal.SIGCONT)
    recorder.close()
    stats = recorder.stats()
    assert (stats.written, stats.refused, stats.failed, stats.queued) == (10, 1, 0, 0)


def test_a_killed_childs_records_wait_in_the_ring_for_the_next_start(url):
    recorder = ProcessRecorder(url, flush_interval_s=3600)
    for _ in range(20):
        recorder.submit(record())
    assert recorder.flush(timeout=10)
    for _ in range(5):  # in the ring, never written by this child
        recorder.submit(record())
    os.kill(recorder.pid, signal.SIGKILL)
    assert wait_for(lambda: "exited" in (recorder.stats().last_error or ""))
    assert recorder.submit(record()) is True  # still kept, in the ring
    assert recorder.flush(timeout=1) is False
    started = time.monotonic()
    recorder.close(timeout=5)
    assert time.monotonic() - started < 2
    stats = recorder.stats()
    assert (stats.written, stats.failed, stats.refused, stats.queued) == (20, 0, 0, 6)
    assert f"6 records wait in {recorder.handoff_path}" in stats.last_error

    with ProcessRecorder(url, flush_interval_s=3600) as after:
        assert after.flush(timeout=10)
        recovery = after.handoff_stats().recovery
    assert (recovery.rings, recovery.written, recovery.duplicates) == (1, 6, 0)
    assert not recorder.handoff_path.exists()
    store = open_store(url)
    assert store.counter(WRITTEN_COUNTER) == 26
    store.close()


def test_close_kills_a_child_that_does_not_finish_in_time(url):
    recorder = ProcessRecorder(url, flush_interval_s=3600)
    assert recorder.ready(timeout=10)
    os.kill(recorder.pid, signal.SIGSTOP)
    for _ in range(3):
        recorder.submit(record())
    started = time.monotonic()
    recorder.close(timeout=0.3)
    assert time.monotonic() - started < 3
    stats = recorder.stats()
    assert (stats.written, stats.failed, stats.queued) == (0, 0, 3)
    assert "3 records wait in" in stats.last_error
    make_recorder(url, process=True).close()  # the next start writes them
    store = open_store(url)
    assert store.counter(WRITTEN_COUNTER) == 3
    store.close()


def test_a_store_the_child_cannot_open_is_reported_and_records_wait_in_the_ring(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database's directory should be")
    recorder = ProcessRecorder(f"sqlite:///{blocker / 'axtui.db'}",
                               handoff_dir=tmp_path / "rings")
    assert recorder.ready(timeout=10) is False
    assert recorder.submit(record()) is True
    recorder.close(timeout=5)
    stats = recorder.stats()
    assert "cannot open the store" in stats.last_error
    assert (stats.written, stats.queued) == (0, 1)
    assert recorder.handoff_path.exists()


def test_a_record_that_cannot_be_serialized_is_refused_named_and_counted(url):
    bad = record().model_copy(update={"messages": [{"blob": object()}]})
    with ProcessRecorder(url, flush_interval_s=3600) as recorder:
        assert recorder.submit(record(id="good"))
        assert recorder.submit(bad) is False
        assert recorder.flush(timeout=10) is False  # a record failed since the last flush
        assert recorder.flush(timeout=10) is True
        stats = recorder.stats()
    assert (stats.written, stats.failed, stats.refused, stats.dropped) == (1, 1, 0, 1)
    assert bad.id in stats.last_error


def test_drops_after_the_last_write_still_reach_the_store_counter(url):
    bad = record().model_copy(update={"messages": [{"blob": object()}]})
    recorder = ProcessRecorder(url, flush_interval_s=3600)
    recorder.submit(record())
    assert recorder.flush(timeout=10)
    assert recorder.submit(bad) is False  # no record follows to carry the count
    recorder.close()
    store = open_store(url)
    assert (store.counter(WRITTEN_COUNTER), store.counter(DROPPED_COUNTER)) == (1, 1)
    store.close()


def test_submit_after_close_is_refused_and_counted(url):
    recorder = ProcessRecorder(url)
    recorder.close()
    assert recorder.submit(record()) is False
    assert recorder.stats().refused == 1


def test_an_in_memory_database_is_refused():
    with pytest.raises(ValueError, match="in-memory"):
        ProcessRecorder("sqlite://")


def test_make_recorder_builds_either_kind(url):
    store = open_store(url)
    thread = make_recorder(store, process=False, flush_interval_s=3600)
    process = make_recorder(store, process=True, flush_interval_s=3600)
    assert isinstance(thread, Recorder) and isinstance(process, ProcessRecorder)
    thread.submit(record(id="t"))
    process.submit(record(id="p"))
    thread.close()
    process.close()
    assert store.get_record("t") and store.get_record("p")
    store.close()


def test_records_are_equal_after_a_round_trip_through_the_child(url):
    records = varied_records(50) + [
        record(attempts=[attempt(started_at=T0, latency_ms=0.1 + 0.2)]),  # float digits
    ]
    with ProcessRecorder(url) as recorder:
        for r in records:
            recorder.submit(r)
    store = open_store(url)
    assert [store.get_record(r.id) for r in records] == records
    store.close()


def test_a_full_handoff_ring_refuses_and_counts_every_record_it_drops(url):
    recorder = ProcessRecorder(url, flush_interval_s=3600, handoff_bytes=4096)
    assert recorder.ready(timeout=10)
    os.kill(recorder.pid, signal.SIGSTOP)  # nothing leaves the ring meanwhile
    try:
        accepted = [recorder.submit(record()) for _ in range(20)]
    finally:
        os.kill(recorder.pid, signal.SIGCONT)
    kept = accepted.count(True)
    assert 0 < kept < 20 and accepted == [True] * kept + [False] * (20 - kept)
    assert recorder.handoff_stats().full_refusals == 20 - kept
    assert "is full" in recorder.stats().last_error
    assert recorder.flush(timeout=10)  # room again once the child has written them
    assert recorder.submit(record())
    recorder.close()
    stats = recorder.stats()
    assert (stats.written, stats.refused, stats.dropped) == (kept + 1, 20 - kept, 20 - kept)
    store = open_store(url)
    assert store.counter(DROPPED_COUNTER) == 20 - kept
    store.close()


def test_a_clean_close_leaves_no_ring_behind(url):
    with ProcessRecorder(url) as recorder:
        recorder.submit(record())
        path = recorder.handoff_path
        assert path.exists() and path.parent.name == "axtui.db.handoff"
    assert not path.exists()


def test_a_record_larger_than_the_ring_is_named_and_counted_as_failed(url):
    big = record().model_copy(update={"messages": [{"role": "user", "content": "x" * 5000}]})
    with ProcessRecorder(url, handoff_bytes=4096) as recorder:
        assert recorder.submit(big) is False
        assert recorder.submit(record()) is True
        stats = recorder.stats()
    assert (stats.failed, stats.refused) == (1, 0)
    assert f"record {big.id!r} not storable" in stats.last_error
    assert "handoff ring's 4,096" in stats.last_error


def test_a_second_recorder_on_the_store_leaves_a_live_ring_alone(url):
    first = ProcessRecorder(url, flush_interval_s=3600)
    assert first.ready(timeout=10)
    os.kill(first.pid, signal.SIGSTOP)  # its lines wait in its ring
    try:
        for i in range(5):
            first.submit(record(id=f"first-{i}"))
        with ProcessRecorder(url, flush_interval_s=3600) as second:
            assert second.flush(timeout=10)
            assert second.handoff_stats().recovery is None  # nothing dead to replay
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.handoff_path.exists()
    first.close()
    store = open_store(url)
    assert store.counter(WRITTEN_COUNTER) == 5  # written once, by its own child
    store.close()
