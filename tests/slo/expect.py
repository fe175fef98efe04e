"""The burn alerts a faithful replay should fire, computed from a trace's records by hand
(no store, no rollups): what the tests hold the real run to."""

from __future__ import annotations

import gzip
import json
import math

from axtui.slo.measure import CALLER_KINDS


def trace_records(path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [r for r in map(json.loads, f) if "id" in r]  # the first line is the header


def evaluation_times(records: list[dict], interval: float) -> list[tuple[float, int]]:
    """(time, records written before it) for every evaluation a faithful replay makes: every
    `interval` from the first record's minute; those due by a record's end run before that
    record is written (records in file order), and they go on to the last end plus one."""
    out: list[tuple[float, int]] = []
    next_eval = records[0]["started_at"] // 60 * 60 + interval
    end = records[0]["ended_at"]
    for i, r in enumerate(records):
        end = max(end, r["ended_at"])
        while next_eval <= r["ended_at"]:
            out.append((next_eval, i))
            next_eval += interval
    while next_eval <= end + interval:
        out.append((next_eval, len(records)))
        next_eval += interval
    return out


def burn(written: list[dict], route: str, at: float, window_s: float, budget: float
         ) -> float | None:
    """Availability burn rate over the whole minutes of [at - window_s, at)."""
    lo = math.floor((at - window_s) / 60) * 60
    hi = math.ceil(at / 60) * 60
    n = bad = 0
    for r in written:
        minute = r["started_at"] // 60 * 60
        if r["route"] != route or not lo <= minute < hi:
            continue
        kind = r["error_kind"] or r["outcome"]
        if r["outcome"] != "ok" and kind in CALLER_KINDS:
            continue
        n += 1
        bad += r["outcome"] != "ok"
    return None if n == 0 else bad / n / budget


def first_firing(records: list[dict], route: str, availability: float, long_s: float,
                 short_s: float, factor: float, interval: float) -> float | None:
    budget = (100 - availability) / 100
    for at, written_n in evaluation_times(records, interval):
        written = records[:written_n]
        long_rate = burn(written, route, at, long_s, budget)
        if long_rate is None:
            continue
        short_rate = burn(written, route, at, short_s, budget) or 0.0
        if min(long_rate, short_rate) > factor:
            return at
    return None
