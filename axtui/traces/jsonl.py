"""JSONL traces: one `RequestRecord.model_dump_json()` a line, so replay reads what serving wrote.

Reading never crashes on bad input and never drops a line silently: every line that is not
a record is reported with its number and a one-line reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from axtui.records import RequestRecord
from axtui.store.tracefile import TraceWriter

__all__ = ["BadLine", "TraceReadResult", "TraceWriter", "iter_trace", "read_trace"]


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


def _reason(err: ValidationError) -> str:
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
    """Each line in order: a record, a BadLine, or None for a blank line."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line:
                yield None
                continue
            try:
                yield RequestRecord.model_validate_json(line)
            except ValidationError as err:
                yield BadLine(line_no, _reason(err))


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
