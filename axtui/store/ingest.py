"""Write batches of records: raw rows, rollups and the recorder counters, in one transaction.

Rows are plain tuples built with one C-level attrgetter and go in as bulk statements
(bulk.py); SQLAlchemy's per-row parameter processing measured ~3x the cost of the insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import Connection

from axtui.record_fields import fields_of
from axtui.records import RequestRecord
from axtui.store.bulk import ROWS_PER_STATEMENT, execute_rows, increment
from axtui.store.rollups import RollupDelta, apply_delta
from axtui.store.tables import CounterRow, RequestRow

# Columns read straight off the record (enums bind as their str values), then the derived.
_DIRECT = (
    "id",
    "started_at",
    "ended_at",
    "route",
    "requested_route",
    "user",
    "key_id",
    "deployment",
    "outcome",
    "error_kind",
    "status",
    "stream",
    "est_prompt_tokens",
    "latency_ms",
    "ttft_ms",
    "cost_nano",
    "optimal_cost_nano",
    "reason",
)
REQUEST_COLUMNS = (*_DIRECT, "prompt_tokens", "completion_tokens", "attempts_n", "record")
_direct = attrgetter(*_DIRECT)
_RECORD_FIELDS = len(RequestRecord.model_fields)

WRITTEN_COUNTER = "recorder.written"
DROPPED_COUNTER = "recorder.dropped"


def _fields(obj: object) -> dict:
    if isinstance(obj, BaseModel):
        return obj.__dict__
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def record_json_bytes(r: RequestRecord, *, newline: bool = False) -> bytes:
    """Exactly `r.model_dump_json()`, encoded (a test holds it to that, byte for byte), in
    ~40% of the time: orjson over the models' field dicts; `newline` appends b"\n" (a JSON
    line). Anything orjson cannot encode the same way falls back to pydantic."""
    fields = r.__dict__
    if len(fields) == _RECORD_FIELDS:  # nothing but fields (no cached values)
        try:
            return orjson.dumps(fields, default=_fields,
                                option=orjson.OPT_APPEND_NEWLINE if newline else None)
        except TypeError:
            pass  # e.g. a captured message holding a non-JSON value: pydantic decides
    text = r.model_dump_json().encode()
    return text + b"\n" if newline else text


def record_json_line(r: RequestRecord) -> bytes:
    """`record_json_bytes` with its newline: one line of a JSONL trace."""
    return record_json_bytes(r, newline=True)


def record_json(r: RequestRecord) -> str:
    """`record_json_bytes` as text: exactly `r.model_dump_json()`."""
    return record_json_bytes(r).decode()


def request_row(r: Any, record_json: str) -> tuple:
    """The `request` row of a record (a model or its fields, see PreparedBatch), ordered
    like REQUEST_COLUMNS."""
    u = r.usage
    n = len(r.attempts)
    if u is None:
        return (*_direct(r), None, None, n, record_json)
    return (*_direct(r), u.prompt_tokens, u.completion_tokens, n, record_json)


class PreparedBatch:
    """Records turned into what the database takes: the GIL-bound half of a write.

    The row and the rollups read each record's fields as attributes: a model's, or those
    its JSON line decodes to (axtui/record_fields.py; enums as their strings there, which
    compare and hash like the models' StrEnum members). Its JSON line is the `record`
    column. Lines that arrived from another process are decoded once, in C (`extend`):
    re-validating them into models was half the cost of a write. Records at hand are read
    in place (`extend_records`). Built in pieces so a preparing thread can let the writer
    run in between.
    """

    __slots__ = ("rows", "delta")

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.delta = RollupDelta()

    def extend(self, record_jsons: Sequence[str], parsed: list[Any] | None = None) -> None:
        """Add records (and their fields to `parsed`, when given). A line that is not a
        record raises ValueError naming why, and the batch is then unusable: callers
        rebuild it from the lines that prepare alone."""
        rows, add = self.rows, self.delta.add
        for line in record_jsons:
            r = fields_of(line)
            rows.append(request_row(r, line))
            add(r)
            if parsed is not None:
                parsed.append(r)

    def extend_records(self, records: Sequence[RequestRecord], record_jsons: Sequence[str]
                       ) -> None:
        """Add records whose JSON lines are already made (`record_json`); as `extend`."""
        rows, add = self.rows, self.delta.add
        for record, line in zip(records, record_jsons, strict=True):
            rows.append(request_row(record, line))
            add(record)

    def ids(self) -> list[str]:
        return [row[0] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


def prepare(record_jsons: Sequence[str]) -> PreparedBatch:
    batch = PreparedBatch()
    batch.extend(record_jsons)
    return batch


def add_counters(
    conn: Connection, deltas: dict[str, int], *, native: bool | None = None, max_params: int = 0
) -> None:
    rows = [(name, n) for name, n in sorted(deltas.items()) if n]
    table = CounterRow.__table__
    increment(conn, table, ("name",), ("n",), rows, native=native, max_params=max_params)


def write_prepared(
    conn: Connection,
    batch: PreparedBatch,
    *,
    dropped: int = 0,
    native_upsert: bool | None = None,
    max_params: int = 0,
    rows_per_statement: int = ROWS_PER_STATEMENT,
) -> None:
    """Inside the caller's transaction: rows, rollups, and the recorder's counters."""
    if batch.rows:
        table = RequestRow.__table__
        execute_rows(conn, table, REQUEST_COLUMNS, batch.rows, max_params=max_params,
                     rows_per_statement=rows_per_statement)
    if batch.delta.groups:  # a replay's writer sends rows first and their rollups later
        apply_delta(conn, batch.delta, native=native_upsert, max_params=max_params)
    deltas = {WRITTEN_COUNTER: len(batch.rows), DROPPED_COUNTER: dropped}
    add_counters(conn, deltas, native=native_upsert, max_params=max_params)
