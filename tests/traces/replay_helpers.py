"""Small traces for replay tests: a cut of a bundled fixture, or records made by hand."""

from __future__ import annotations

import gzip
from pathlib import Path

from axtui.traces.replay.run import resolve_trace


def cut(name: str, n: int, out: Path) -> Path:
    """The header and the first `n` records of bundled trace `name`, gzip, at `out`."""
    with gzip.open(resolve_trace(name), "rb") as f, gzip.open(out, "wb") as w:
        for i, line in enumerate(f):
            if i > n:
                break
            w.write(line)
    return out


def write(out: Path, records, header: bytes | None = None) -> Path:
    body = b"".join(r.model_dump_json().encode() + b"\n" for r in records)
    out.write_bytes((header + b"\n" if header else b"") + body)
    return out
