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


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("block_bytes", [1, 5, 64, 1 << 20])
def test_a_trace_read_in_blocks_has_the_lines_and_numbers_it_has_read_line_by_line(
        tmp_path, gz, block_bytes):
    from axtui.traces.jsonl import iter_line_blocks, iter_lines

    text = (b'\n  \n{"axtui_trace": 1, "made_by": "t"}\r\n{"a": 1}\n\n'
            + b'{"b": "' + b"x" * 100 + b'"}\r\n{"axtui_trace": 1}\nlast, no newline')
    path = tmp_path / ("t.jsonl.gz" if gz else "t.jsonl")
    path.write_bytes(gzip.compress(text) if gz else text)
    by_block = [(n, raw.strip()) for first, lines in iter_line_blocks(path, block_bytes)
                for n, raw in enumerate(lines, first)]
    assert by_block == list(iter_lines(path))
    assert by_block[0] == (1, b"") and by_block[-1] == (8, b"last, no newline")
    assert 3 not in [n for n, _ in by_block]  # the header is no line of the trace
