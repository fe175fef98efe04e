"""JSONL traces: what is written reads back exactly; bad lines are reported, never fatal."""

from __future__ import annotations

import json

import pytest

from axtui.records import ErrorKind
from axtui.traces.jsonl import BadLine, TraceWriter, iter_trace, read_trace
from tests.store.factory import attempt, record


def sample() -> list:
    return [
        record(),
        record(attempts=[attempt("a/x", error_kind=ErrorKind.rate_limited), attempt("b/y")]),
        record(attempts=[]),
    ]


def test_a_trace_round_trips_exactly(tmp_path):
    path = tmp_path / "run.jsonl"
    records = sample()
    with TraceWriter(path) as writer:
        assert writer.write(records[:2]) == 2
        assert writer.write(records[2:]) == 1
    result = read_trace(path)
    assert result.records == records
    assert result.ok and result.bad_lines == [] and result.blank_lines == 0
    assert path.read_text().count("\n") == 3


def test_a_second_writer_appends(tmp_path):
    path = tmp_path / "run.jsonl"
    first, second = sample()[:1], sample()[1:]
    with TraceWriter(path) as w:
        w.write(first)
    with TraceWriter(path) as w:
        w.write(second)
    assert read_trace(path).records == first + second


def test_each_line_is_what_model_dump_json_writes(tmp_path):
    path = tmp_path / "run.jsonl"
    r = record()
    with TraceWriter(path) as w:
        w.write([r])
    assert path.read_text() == r.model_dump_json() + "\n"


def test_writing_after_close_is_an_error_and_close_is_idempotent(tmp_path):
    w = TraceWriter(tmp_path / "run.jsonl")
    w.close()
    w.close()
    assert w.closed
    with pytest.raises(ValueError, match="closed"):
        w.write([record()])


def test_bad_lines_are_counted_with_their_line_numbers_and_a_reason(tmp_path):
    good = sample()
    no_route = good[0].model_dump(mode="json")
    del no_route["route"]
    bad_time = good[1].model_dump(mode="json") | {"started_at": "soon"}
    lines = [
        good[0].model_dump_json().encode(),  # 1
        b'{"id": "x", "started_at": ',  # 2: cut off mid-object
        b"",  # 3: blank
        b"[1, 2, 3]",  # 4: JSON, but not an object
        json.dumps(bad_time).encode(),  # 5: a field of the wrong type
        json.dumps(no_route).encode(),  # 6: a field missing
        good[1].model_dump_json().encode(),  # 7
        b"\xff\xfe not utf-8",  # 8
        b'{"trunc',  # 9: the last line, cut off by a crash (no newline)
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = read_trace(path)
    assert result.records == [good[0], good[1]]
    assert result.blank_lines == 1 and not result.ok
    by_line = {b.line_no: b.reason for b in result.bad_lines}
    assert sorted(by_line) == [2, 4, 5, 6, 8, 9]
    assert by_line[2].startswith("malformed JSON")
    assert by_line[4] == "wrong shape: expected a JSON object"
    assert by_line[5].startswith("wrong shape: started_at:")
    assert by_line[6].startswith("wrong shape: route:")
    assert by_line[8].startswith("malformed JSON") and by_line[9].startswith("malformed JSON")
    assert all("\n" not in reason for reason in by_line.values())
    assert str(result.bad_lines[0]).startswith("line 2: malformed JSON")


def test_iterating_a_trace_yields_every_line_in_order(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(record().model_dump_json() + "\n\nnot json\n")
    kinds = [type(item).__name__ for item in iter_trace(path)]
    assert kinds == ["RequestRecord", "NoneType", "BadLine"]
    assert isinstance(list(iter_trace(path))[2], BadLine)


def _append_batches(path, lines: list[str], n: int) -> None:
    with TraceWriter(path) as w:
        for _ in range(n):
            w.write_lines(lines)


def test_writers_sharing_one_file_never_interleave_inside_a_batch(tmp_path):
    """`serve --workers N --trace-out F`: each worker's recorder appends to F at once."""
    import multiprocessing

    path = tmp_path / "run.jsonl"
    batch = [r.model_dump_json() for r in sample()] * 200  # ~100 KB: past any buffer
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_batches, args=(path, batch, 30)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    result = read_trace(path)
    assert result.bad_lines == [] and len(result.records) == 4 * 30 * len(batch)
