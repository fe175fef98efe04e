"""Appending JSONL traces: one `RequestRecord.model_dump_json()` a line. Here, below the
recorder that writes them, so the store never imports traces/ (which reads and replays
them, above the store)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

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
