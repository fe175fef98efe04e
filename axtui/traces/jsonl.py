"""JSONL traces: one `RequestRecord.model_dump_json()` a line, so replay reads what serving wrote.

The format is versioned by an optional first line, the header `{"axtui_trace": 1, ...}`
(other keys are free-form metadata: what made the trace, with which seed). A trace without
one (what `serve --trace-out` and the recorder write today) is schema 1. A schema this
version does not read is refused with one line (`TraceSchemaError`). A gzip file (by its
magic bytes, whatever its name) is read the same way.

Reading never crashes on bad input and never drops a line silently: every line that is not
a record is reported with its number and a one-line reason.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import ValidationError

from axtui.records import RequestRecord
from axtui.store.tracefile import TraceWriter

__all__ = ["BadLine", "TraceReadResult", "TraceSchemaError", "TraceWriter", "header_line",
           "bad_reason", "iter_lines", "iter_trace", "iter_trace_lines", "open_trace", "read_header", "read_trace"]

SCHEMA = 1  # the version this axtui writes
SUPPORTED = frozenset({1})  # the versions it reads
HEADER_KEY = "axtui_trace"
_GZIP_MAGIC = b"\x1f\x8b"


class TraceSchemaError(ValueError):
    """The trace's header names a schema this axtui cannot read."""


def header_line(**meta: Any) -> str:
    """The header a trace may start with: the schema version, then `meta` (sorted)."""
    return json.dumps({HEADER_KEY: SCHEMA, **dict(sorted(meta.items()))}, separators=(",", ":"))


def open_trace(path: str | os.PathLike[str]) -> IO[bytes]:
    """The trace's bytes, decompressed if it is gzip (told by its first two bytes)."""
    f = open(path, "rb")  # noqa: SIM115
    if f.read(2) == _GZIP_MAGIC:
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def _header(line: bytes, path: object) -> dict | None:
    """The parsed header if `line` is one; a schema this version cannot read raises."""
    if HEADER_KEY.encode() not in line[:80]:
        return None
    try:
        head = json.loads(line)
    except ValueError:
        return None  # not JSON: the caller reports it as a bad line
    if not isinstance(head, dict) or HEADER_KEY not in head:
        return None
    version = head[HEADER_KEY]
    if type(version) is not int or version not in SUPPORTED:
        raise TraceSchemaError(
            f"{path}: trace schema {version!r} is not supported (this axtui reads schema "
            f"{', '.join(map(str, sorted(SUPPORTED)))})")
    return head


def read_header(path: str | os.PathLike[str]) -> dict:
    """The trace's header (`{"axtui_trace": 1}` for a header-less trace); raises
    TraceSchemaError for an unknown schema, OSError for a missing file."""
    with open_trace(path) as f:
        for raw in f:
            line = raw.strip()
            if line:
                return _header(line, path) or {HEADER_KEY: 1}
    return {HEADER_KEY: 1}


@dataclass(frozen=True)
class BadLine:
    line_no: int  # 1-based, as an editor shows it
    reason: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.reason}"


@dataclass
class TraceReadResult:
    records: list[RequestRecord] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    blank_lines: int = 0

    @property
    def ok(self) -> bool:
        return not self.bad_lines


def bad_reason(err: ValidationError) -> str:
    """Why a line is no record, in one line."""
    errors = err.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"malformed JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
    if first["type"] == "model_type":
        return "wrong shape: expected a JSON object"
    where = ".".join(str(p) for p in first["loc"]) or "record"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"wrong shape: {where}: {first['msg']}{more}"


def iter_trace(path: str | os.PathLike[str]) -> Iterator[RequestRecord | BadLine | None]:
    """Each line in order: a record, a BadLine, or None for a blank line (the header, if
    any, is skipped; an unknown schema raises TraceSchemaError before the first record)."""
    for item, _ in iter_trace_lines(path):
        yield item


def iter_trace_lines(path: str | os.PathLike[str]
                     ) -> Iterator[tuple[RequestRecord | BadLine | None, bytes]]:
    """As iter_trace, each item with its line's bytes (stripped): a replay stores the
    record's own line rather than serializing it again."""
    for line_no, line in iter_lines(path):
        if not line:
            yield None, line
            continue
        try:
            yield RequestRecord.model_validate_json(line), line
        except ValidationError as err:
            yield BadLine(line_no, bad_reason(err)), line


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Each line after the header, stripped, with its 1-based number (blank lines as
    b""); an unknown schema raises TraceSchemaError before the first line."""
    with open_trace(path) as f:
        first = True
        for line_no, raw in enumerate(f, start=1):
            line = raw.strip()
            if first and line:
                first = False
                if _header(line, path) is not None:
                    continue
            yield line_no, line


def plain_size(path: str | os.PathLike[str]) -> int | None:
    """A plain (not gzip) trace file's length now, or None (gzip, or not a regular file):
    readers given it as their `limit` read the same records while `serve --trace-out`
    appends more."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        if f.read(2) == _GZIP_MAGIC:
            return None
        return os.fstat(f.fileno()).st_size


def iter_line_blocks(path: str | os.PathLike[str], block_bytes: int = 1 << 20,
                     limit: int | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """As iter_lines, a block at a time: `(the first line's number, the lines)`, the lines
    unstripped (blank ones too). Replay's reader: one split per MiB, not a call per line.
    `limit`: read no further than that many bytes (plain_size's: what the file held)."""
    with open_trace(path) as f:
        line_no, tail, first = 1, b"", True
        left = limit
        while True:
            if left is None:
                data = f.read(block_bytes)
            else:
                data = f.read(min(block_bytes, left)) if left > 0 else b""
                left -= len(data)
            lines = (tail + data).split(b"\n")
            tail = lines.pop() if data else b""
            if not data and not lines[-1]:
                lines.pop()  # the file ended with its newline (or is empty)
            if first:
                for i, raw in enumerate(lines):
                    line = raw.strip()
                    if line:
                        first = False
                        if _header(line, path) is not None:
                            yield line_no, lines[:i]
                            line_no += i + 1
                            lines = lines[i + 1:]
                        break
            if lines:
                yield line_no, lines
                line_no += len(lines)
            if not data:
                return


def read_trace(path: str | os.PathLike[str]) -> TraceReadResult:
    """Every record in a trace, and every line that was not one (with why)."""
    result = TraceReadResult()
    for item in iter_trace(path):
        if item is None:
            result.blank_lines += 1
        elif isinstance(item, BadLine):
            result.bad_lines.append(item)
        else:
            result.records.append(item)
    return result
