"""A trace read as a stream of records, counting every line that is not one (its number and
why kept for the first few), so replay never holds the trace and never drops silently."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from axtui.traces.jsonl import (
    BadLine,
    bad_reason,
    iter_line_blocks,
    iter_trace_lines,
    read_header,
)

SHOWN_BAD = 20  # bad lines kept with their reason; the rest are counted


@dataclass
class SourceStats:
    path: str
    schema: int = 1
    header: dict = field(default_factory=dict)
    records: int = 0
    blank_lines: int = 0
    bad_count: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)  # the first SHOWN_BAD

    def to_dict(self) -> dict:
        meta = {k: v for k, v in sorted(self.header.items()) if k != "axtui_trace"}
        return {"path": self.path, "schema": self.schema, "meta": meta,
                "records": self.records, "blank_lines": self.blank_lines,
                "bad_lines": self.bad_count,
                "bad": [{"line": b.line_no, "reason": b.reason} for b in self.bad_lines]}


def open_source(path: str | os.PathLike[str], *, lines: bool = False
                ) -> tuple[SourceStats, Iterator]:
    """The trace's stats (filled in as it is read) and its records in file order (with
    `lines`, `(record, its JSON line)` pairs). Raises TraceSchemaError for an unknown
    schema and OSError for an unreadable file, at once."""
    header = read_header(path)
    stats = SourceStats(path=str(path), schema=header["axtui_trace"], header=header)

    def records() -> Iterator:
        for item, line in iter_trace_lines(path):
            if item is None:
                stats.blank_lines += 1
            elif isinstance(item, BadLine):
                stats.bad_count += 1
                if len(stats.bad_lines) < SHOWN_BAD:
                    stats.bad_lines.append(item)
            else:
                stats.records += 1
                yield (item, line.decode()) if lines else item

    return stats, records()


def open_fields(path: str | os.PathLike[str], limit: int | None = None
                ) -> tuple[SourceStats, Iterator[tuple[Any, bytes]]]:
    """As `open_source`, each record as `(its fields, its JSON line)`: decoded and checked
    in C (record_fields.py), never built into a model. `limit`: the
    bytes to read at most (jsonl.plain_size's, taken when the replay began)."""
    from pydantic import ValidationError

    from axtui.record_fields import parse

    header = read_header(path)
    stats = SourceStats(path=str(path), schema=header["axtui_trace"], header=header)

    def records() -> Iterator[tuple[Any, bytes]]:
        for first, lines in iter_line_blocks(path, limit=limit):
            for line_no, raw in enumerate(lines, first):
                line = raw.strip()
                if not line:
                    stats.blank_lines += 1
                    continue
                got = parse(line)
                if type(got) is tuple:
                    stats.records += 1
                    yield got
                    continue
                assert isinstance(got, ValidationError)
                stats.bad_count += 1
                if len(stats.bad_lines) < SHOWN_BAD:
                    stats.bad_lines.append(BadLine(line_no, bad_reason(got)))

    return stats, records()
