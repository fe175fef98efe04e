"""JSONL traces: one `RequestRecord.model_dump_json()` a line, so replay reads what serving wrote.

Reading never crashes on bad input and never drops a line silently: every line that is not
a record is reported with its number and a one-line reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from axtui.records import RequestRecord


class TraceWriter:
    """Appends records to a trace file; each batch is flushed to the OS as it is written."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self.lines_written = 0

    def write(self, records: Iterable[RequestRecord]) -> int:
        return self.write_lines([r.model_dump_json() for r in records])

    def write_lines(self, lines: list[str]) -> int:
        """Append already-serialized records (the recorder serializes once for both sinks)."""
        if self._file is None:
            raise ValueError(f"trace {self.path} is closed")
        if not lines:
            return 0
        # One write per batch: a whole batch reaches the file or the error is raised.
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        self.lines_written += len(lines)
        return len(lines)

    @property
    def closed(self) -> bool:
        return self._file is None

    def close(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
