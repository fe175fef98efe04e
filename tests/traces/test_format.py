"""The trace format: an optional versioned header, gzip by its magic bytes, header-less
traces read as schema 1, and an unknown schema refused with one line."""

from __future__ import annotations

import gzip

import pytest

from axtui.traces.jsonl import (
    TraceSchemaError,
    header_line,
    iter_trace,
    read_header,
    read_trace,
)
from tests.store.factory import record


def lines(*records) -> bytes:
    return b"".join(r.model_dump_json().encode() + b"\n" for r in records)


def test_a_header_line_is_read_as_metadata_and_is_not_a_record(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(header_line(made_by="axtui demo", seed=7).encode() + b"\n"
                     + lines(record(), record()))
    result = read_trace(path)
    assert len(result.records) == 2 and result.ok
    assert read_header(path) == {"axtui_trace": 1, "made_by": "axtui demo", "seed": 7}


def test_a_trace_without_a_header_is_schema_1(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(lines(record()))
    assert read_header(path) == {"axtui_trace": 1}
    assert len(read_trace(path).records) == 1


def test_a_gzip_trace_reads_like_the_plain_one_whatever_its_name(tmp_path):
    path = tmp_path / "t.jsonl"  # no .gz: the magic bytes tell
    path.write_bytes(gzip.compress(header_line().encode() + b"\n" + lines(record(), record())))
    result = read_trace(path)
    assert len(result.records) == 2 and result.ok


def test_an_unknown_schema_is_refused_with_one_line_naming_it(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"axtui_trace": 9}\n' + lines(record()))
    with pytest.raises(TraceSchemaError, match=r"trace schema 9 is not supported") as e:
        list(iter_trace(path))
    assert "\n" not in str(e.value)
    with pytest.raises(TraceSchemaError):
        read_header(path)


def test_a_header_after_the_first_line_is_a_bad_line_not_metadata(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(lines(record()) + b'{"axtui_trace": 1}\n')
    result = read_trace(path)
    assert len(result.records) == 1
    assert [b.line_no for b in result.bad_lines] == [2]
