"""Raw records in a real SQLite file: round trip, columns, recent/tail queries, open_store."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from axtui.records import Attempt, ErrorKind, Outcome, RequestRecord, Usage
from axtui.store import Recorder, open_store
from axtui.store.ingest import record_json
from tests.store.factory import T0, attempt, record


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'axtui.db'}")
    yield s
    s.close()


def full_record() -> RequestRecord:
    """Every field set to something other than its default."""
    return RequestRecord(
        id="req-full",
        started_at=T0 + 0.123456789,
        ended_at=T0 + 1.987654321,
        route="chat-large",
        requested_route="chat",
        user="bob",
        key_id="kh_9f8e",
        tags=["batch", "eu"],
        stream=True,
        est_prompt_tokens=321,
        max_tokens=512,
        required_caps=["tools", "json"],
        complexity="large",
        content_hash="abc123",
        messages=[{"role": "user", "content": 'héllo \u2028 "quoted"\nnext'}],
        attempts=[
            Attempt(
                deployment="groq/llama",
                started_at=T0 + 0.2,
                latency_ms=31.5,
                status=429,
                error_kind=ErrorKind.rate_limited,
                error="slow down",
                retry_after_s=1.5,
                backoff_ms=12.25,
            ),
            Attempt(
                deployment="openai/gpt-4o",
                started_at=T0 + 0.25,
                latency_ms=1700.125,
                ttft_ms=210.0,
                status=200,
                usage=Usage(prompt_tokens=300, completion_tokens=40, cached_prompt_tokens=100,
                  cache_write_tokens=150),
                cost_nano=1_234_567_891_234,
            ),
        ],
        outcome=Outcome.ok,
        status=200,
        deployment="openai/gpt-4o",
        usage=Usage(prompt_tokens=300, completion_tokens=40, cached_prompt_tokens=100,
                  cache_write_tokens=150),
        latency_ms=1731.625,
        ttft_ms=241.5,
        cost_nano=1_234_567_891_234,
        optimal_cost_nano=999,
        reason="weighted: 2 candidates",
        flags={"new-router": "on"},
    )


def test_a_record_round_trips_exactly_through_the_store(store):
    original = full_record()
    with Recorder(store) as recorder:
        assert recorder.submit(original)
    assert store.get_record("req-full") == original
    assert store.recent_records() == [original]


def test_a_record_written_before_usage_had_cache_writes_still_parses():
    line = orjson.loads(record_json(full_record()))
    for usage in (line["usage"], line["attempts"][1]["usage"]):
        del usage["cache_write_tokens"]
    old = RequestRecord.model_validate_json(orjson.dumps(line))
    assert old.usage == Usage(prompt_tokens=300, completion_tokens=40, cached_prompt_tokens=100)
    assert old.usage.cache_write_tokens == 0
    assert old.attempts[1].usage.cache_write_tokens == 0


def test_request_columns_hold_what_queries_filter_and_sum_on(store):
    store.write_records([full_record()])
    with store.connect() as conn:
        row = conn.execute(text("SELECT * FROM request")).mappings().one()
    assert row["route"] == "chat-large" and row["requested_route"] == "chat"
    assert row["outcome"] == "ok" and row["error_kind"] is None
    assert row["deployment"] == "openai/gpt-4o" and row["user"] == "bob"
    assert (row["prompt_tokens"], row["completion_tokens"], row["attempts_n"]) == (300, 40, 2)
    assert row["cost_nano"] == 1_234_567_891_234 and row["optimal_cost_nano"] == 999
    assert row["stream"] == 1 and row["ttft_ms"] == 241.5
    assert RequestRecord.model_validate_json(row["record"]) == full_record()


def test_a_failed_record_stores_its_error_kind_as_text(store):
    failed = record(attempts=[attempt(error_kind=ErrorKind.timeout)])
    store.write_records([failed])
    with store.connect() as conn:
        row = conn.execute(text("SELECT outcome, error_kind, deployment FROM request")).one()
    assert tuple(row) == ("failed", "timeout", None)


_floats = st.floats(min_value=0, max_value=1e7, allow_nan=False)
_text = st.text(max_size=12)
_usage = st.builds(
    Usage, prompt_tokens=st.integers(0, 10**6), completion_tokens=st.integers(0, 10**6)
)
_attempts = st.builds(
    Attempt,
    deployment=_text,
    started_at=_floats,
    latency_ms=_floats,
    ttft_ms=st.none() | _floats,
    status=st.none() | st.integers(100, 599),
    error_kind=st.none() | st.sampled_from(ErrorKind),
    error=st.none() | _text,
    usage=st.none() | _usage,
    cost_nano=st.integers(0, 2**62),
)
_records = st.builds(
    RequestRecord,
    id=_text,
    started_at=_floats,
    ended_at=_floats,
    route=_text,
    requested_route=_text,
    user=st.none() | _text,
    tags=st.lists(_text, max_size=3),
    messages=st.none()
    | st.lists(st.dictionaries(_text, _text | st.integers(), max_size=3), max_size=2),
    attempts=st.lists(_attempts, max_size=3),
    outcome=st.sampled_from(Outcome),
    error_kind=st.none() | st.sampled_from(ErrorKind),
    usage=st.none() | _usage,
    latency_ms=_floats,
    ttft_ms=st.none() | _floats,
    cost_nano=st.integers(0, 2**62),
    optimal_cost_nano=st.none() | st.integers(0, 2**62),
    flags=st.dictionaries(_text, _text, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(_records)
def test_the_fast_serializer_writes_exactly_what_pydantic_writes(r):
    assert record_json(r) == r.model_dump_json()
    assert RequestRecord.model_validate_json(record_json(r)) == r


def test_the_fast_serializer_defers_to_pydantic_for_values_orjson_cannot_encode():
    r = record().model_copy(update={"messages": [{"n": 2**70, "x": math.pi}]})
    assert record_json(r) == r.model_dump_json()


def test_recent_records_are_newest_first_and_filtered(store):
    rs = [
        record(started_at=T0 + i, route="a" if i % 2 else "b", user=f"u{i % 3}") for i in range(10)
    ]
    store.write_records(rs)
    assert [r.id for r in store.recent_records(limit=3)] == [rs[9].id, rs[8].id, rs[7].id]
    assert [r.id for r in store.recent_records(route="a", limit=2)] == [rs[9].id, rs[7].id]
    assert {r.id for r in store.recent_records(since_ts=T0 + 7)} == {rs[7].id, rs[8].id, rs[9].id}
    assert {r.id for r in store.recent_records(until_ts=T0 + 1)} == {rs[0].id}
    assert {r.id for r in store.recent_records(user="u0", route="b")} == {rs[0].id, rs[6].id}
    assert store.recent_records(outcome="failed") == []


def test_records_after_pages_in_write_order_from_a_cursor(store):
    assert store.latest_cursor() == 0
    first = [record(started_at=T0 + 100 - i) for i in range(5)]  # written newest-first
    store.write_records(first)
    page = store.records_after(0, limit=3)
    assert [r.id for r in page.records] == [r.id for r in first[:3]]
    page = store.records_after(page.cursor, limit=3)
    assert [r.id for r in page.records] == [r.id for r in first[3:]]
    empty = store.records_after(page.cursor)
    assert empty.records == [] and empty.cursor == page.cursor == store.latest_cursor()
    later = [record(started_at=T0)]  # starts earlier than the rows before it, lands after
    store.write_records(later)
    assert [r.id for r in store.records_after(page.cursor).records] == [later[0].id]


def test_a_filtered_tail_moves_its_cursor_past_rows_it_skipped(store):
    store.write_records([record(route="other") for _ in range(5)])
    page = store.records_after(0, route="chat")
    assert page.records == [] and page.cursor == store.latest_cursor()
    mine = record(route="chat")
    store.write_records([mine, record(route="other")])
    page = store.records_after(page.cursor, route="chat")
    assert [r.id for r in page.records] == [mine.id]


def test_open_store_sets_sqlite_up_for_several_processes(store):
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_a_store_file_in_a_new_directory_is_created(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'state' / 'axtui' / 'x.db'}") as store:
        store.write_records([record()])
    assert (tmp_path / "state" / "axtui" / "x.db").exists()


def test_opening_an_existing_store_keeps_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'again.db'}"
    with open_store(url) as first:
        first.write_records([record(id="kept")])
    with open_store(url) as second:
        assert second.get_record("kept") is not None
        assert second.get_record("missing") is None


def test_an_in_memory_store_is_shared_by_the_recorder_thread_and_the_caller():
    with open_store("sqlite://") as store, Recorder(store, flush_interval_s=0.01) as recorder:
        recorder.submit(record(id="mem"))
        assert recorder.flush(timeout=5)
        assert store.get_record("mem") is not None


def test_a_reader_store_can_keep_a_small_page_cache(tmp_path):
    from axtui.store import open_store as open_

    reader = open_(f"sqlite:///{tmp_path / 'r.db'}", cache_kib=2048)
    writer = open_(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with reader.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2048
        with writer.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -32 * 1024
    finally:
        reader.close()
        writer.close()
