"""The live tail's lines, made in the producer's thread from the records' stored JSON.

Only the fields a line shows are read (orjson, no models): at hundreds of records a second,
parsing whole RequestRecords for lines that scroll past fragmented the console's heap and
its RSS grew for as long as it ran. No textual here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from axtui.records import NANO_PER_USD, RequestRecord
from axtui.tui import format as fmt


@dataclass(frozen=True, slots=True)
class TailLine:
    text: str
    bad: bool  # not served: shown bold
    id: str = ""  # the record's id (the request's x-request-id)


def tail_line(raw: str | bytes) -> TailLine:
    """`14:03:22.114 chat → gemini/flash-lite 503 → openai/gpt-4o-mini 200 1.2s $0.0004`;
    a record that cannot be read is one bold line saying so, never a dead console."""
    try:
        r = orjson.loads(raw)
        return _line(r)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        return TailLine(f"unreadable record ({type(e).__name__}: {e})", True, "")


def record_line(r: RequestRecord) -> TailLine:
    """The same line from a model (tests and in-process callers)."""
    return tail_line(r.model_dump_json())


def _line(r: dict) -> TailLine:
    ended = float(r["ended_at"])
    stamp = time.strftime("%H:%M:%S", time.localtime(ended)) + f".{int(ended * 1000) % 1000:03d}"
    hops = []
    for a in r.get("attempts") or ():
        status = a.get("status")
        what = status if status is not None else (a.get("error_kind") or "ok")
        hops.append(f"{a['deployment']} {what}")
    ok = r.get("outcome", "ok") == "ok"
    path = " → ".join(hops) or f"refused ({r.get('error_kind') or r.get('status')})"
    tail = f"{fmt.duration_ms(r.get('latency_ms') or 0.0)} " \
           f"${(r.get('cost_nano') or 0) / NANO_PER_USD:.4f}"
    extra = " failover" if len(hops) > 1 and ok else ""
    if not ok:
        extra += f" {r['outcome']}"
    return TailLine(f"{stamp} {r['route']} → {path} {tail}{extra}", not ok, str(r.get("id", "")))
