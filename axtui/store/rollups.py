"""Rollups at 1 minute, 1 hour and 1 day: aggregate a batch of records in memory, then add
it to the store at each resolution.

Keys are (res, period, route, deployment). Request counters go to the deployment that served
(or "" when none did): route success and latency count requests. Attempt counters go to
each attempted deployment: deployment health counts attempts. A batch is aggregated once by
minute in one pass over the records; its hours and days are sums of those minutes, made in
memory, so each resolution costs one small upsert set per batch, not a pass per record.
Latencies and TTFTs land in the log buckets of axtui/quantiles.py (within 1.93%).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from axtui.quantiles import BUCKETS_PER_DOUBLING, bucket_of
from axtui.records import ErrorKind, Outcome
from axtui.store.bulk import increment
from axtui.store.tables import (
    ROLLUP_COUNTERS,
    SLOTS,
    rollup_error_table,
    rollup_hist_table,
    rollup_table,
)

MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86400
RESOLUTIONS = (MINUTE_S, HOUR_S, DAY_S)
_OUTCOME_OK = Outcome.ok.value
_REJECTED_OUTCOME = Outcome.rejected.value
_CANCELLED = ErrorKind.cancelled.value

REQUEST = "request"
ATTEMPT = "attempt"
REQUEST_TTFT = "request_ttft"
ATTEMPT_TTFT = "attempt_ttft"
HIST_SERIES = (REQUEST, ATTEMPT, REQUEST_TTFT, ATTEMPT_TTFT)  # the order of _Group.hists

Key = tuple[int, str, str]  # period, route, deployment
Levels = list[tuple[int, dict[Key, "_Group"]]]  # (res, groups) per resolution
(
    _REQUESTS,
    _OK,
    _ERRORS,
    _REJECTED,
    _FAILOVERS,
    _LAT_N,
    _LAT_SUM,
    _TTFT_N,
    _TTFT_SUM,
    _PT,
    _CT,
    _COST,
    _OPT_COST,
    _ATTEMPTS,
    _A_OK,
    _A_ERRORS,
    _A_FAILOVERS,
    _A_LAT_SUM,
    _A_TTFT_N,
    _A_TTFT_SUM,
    _A_PT,
    _A_CT,
    _A_COST,
) = range(len(ROLLUP_COUNTERS))


class _Group:
    """Counters, histograms ({bucket: n} per HIST_SERIES) and error kinds of one key."""

    __slots__ = ("c", "hists", "request_errors", "attempt_errors")

    def __init__(self) -> None:
        self.c: list[float] = [0] * len(ROLLUP_COUNTERS)
        self.hists: tuple[dict[int, int], ...] = ({}, {}, {}, {})
        self.request_errors: dict[str, int] = {}
        self.attempt_errors: dict[str, int] = {}

    def merge(self, other: _Group) -> None:
        self.c = [x + y for x, y in zip(self.c, other.c, strict=True)]
        for mine, theirs in zip(self.hists, other.hists, strict=True):
            _add_counts(mine, theirs)
        _add_counts(self.request_errors, other.request_errors)
        _add_counts(self.attempt_errors, other.attempt_errors)


def _add_counts(into: dict, counts: dict) -> None:
    for k, n in counts.items():
        into[k] = into.get(k, 0) + n


_PER_ROUTE = (True, False, True, False)  # per HIST_SERIES: request series go by route


def _by_reader(groups: dict[Key, _Group]) -> dict[tuple, dict[int, int]]:
    """Histograms keyed (series, period, route, "") or (series, period, "", deployment)."""
    out: dict[tuple, dict[int, int]] = {}
    owned: set[tuple] = set()  # merged copies; the others are a group's own dict, shared
    for (period, route, deployment), g in groups.items():
        for series, per_route, hist in zip(HIST_SERIES, _PER_ROUTE, g.hists, strict=True):
            if not hist:
                continue
            key = (series, period, route, "") if per_route else (series, period, "", deployment)
            into = out.get(key)
            if into is None:
                out[key] = hist
                continue
            if key not in owned:
                into = out[key] = dict(into)
                owned.add(key)
            _add_counts(into, hist)
    return out


class RollupDelta:
    """What one batch adds to the rollups (a hot loop: one pass, plain lists)."""

    def __init__(self) -> None:
        self.groups: dict[Key, _Group] = {}

    def _group(self, key: Key) -> _Group:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group()
        return g

    def add(self, r: Any) -> None:
        """Add one record: a RequestRecord, or its fields as read from its JSON line
        (axtui/record_fields.py), read alike as attributes (enums as StrEnum members or
        their strings, which compare and hash alike)."""
        minute = int(r.started_at // MINUTE_S) * MINUTE_S
        route = r.route
        served = r.deployment
        g = self._group((minute, route, served or ""))
        c = g.c
        c[_REQUESTS] += 1
        cost = r.cost_nano
        outcome = r.outcome
        if outcome == _OUTCOME_OK:
            c[_OK] += 1
        else:
            c[_ERRORS] += 1
            if outcome == _REJECTED_OUTCOME:
                c[_REJECTED] += 1
            kind = r.error_kind or r.outcome
            g.request_errors[kind] = g.request_errors.get(kind, 0) + 1
        attempts = r.attempts
        if len(attempts) > 1:
            c[_FAILOVERS] += 1
        if attempts:  # refused requests never reached a provider: not a latency sample
            latency = r.latency_ms
            c[_LAT_N] += 1
            c[_LAT_SUM] += latency
            h = g.hists[0]
            b = bucket_of(latency)
            h[b] = h.get(b, 0) + 1
        ttft = r.ttft_ms
        if ttft is not None:
            c[_TTFT_N] += 1
            c[_TTFT_SUM] += ttft
            h = g.hists[2]
            b = bucket_of(ttft)
            h[b] = h.get(b, 0) + 1
        usage = r.usage
        pt = ct = 0
        if usage is not None:
            pt, ct = usage.prompt_tokens, usage.completion_tokens
            c[_PT] += pt
            c[_CT] += ct
        c[_COST] += cost
        optimal = r.optimal_cost_nano
        c[_OPT_COST] += cost if optimal is None else optimal

        a_pt = a_ct = a_cost = 0
        ag = g
        last = len(attempts) - 1
        for i, a in enumerate(attempts):
            deployment = a.deployment
            ag = g if deployment == served else self._group((minute, route, deployment))
            d = ag.c
            error_kind = a.error_kind
            if error_kind == _CANCELLED:
                # The caller left, not the deployment failing: listed by kind, and its
                # tokens and cost count, but it is no attempt in the health figures
                # (attempts, error rate, latency).
                ag.attempt_errors[error_kind] = ag.attempt_errors.get(error_kind, 0) + 1
            else:
                d[_ATTEMPTS] += 1
                if error_kind is None:
                    d[_A_OK] += 1
                else:
                    d[_A_ERRORS] += 1
                    ag.attempt_errors[error_kind] = ag.attempt_errors.get(error_kind, 0) + 1
                latency = a.latency_ms
                d[_A_LAT_SUM] += latency
                h = ag.hists[1]
                b = bucket_of(latency)
                h[b] = h.get(b, 0) + 1
                ttft = a.ttft_ms
                if ttft is not None:
                    d[_A_TTFT_N] += 1
                    d[_A_TTFT_SUM] += ttft
                    h = ag.hists[3]
                    b = bucket_of(ttft)
                    h[b] = h.get(b, 0) + 1
                if i < last:
                    d[_A_FAILOVERS] += 1
            a_usage = a.usage
            if a_usage is not None:
                upt, uct = a_usage.prompt_tokens, a_usage.completion_tokens
                a_pt += upt
                a_ct += uct
                d[_A_PT] += upt
                d[_A_CT] += uct
            a_cost_nano = a.cost_nano
            d[_A_COST] += a_cost_nano
            a_cost += a_cost_nano
        # Tokens or cost the record carries beyond its attempts' own go to the deployment
        # that served (else the last one tried), so totals agree by route and by deployment.
        if pt > a_pt or ct > a_ct or cost > a_cost:
            d = (g if served is not None else ag).c
            d[_A_PT] += max(0, pt - a_pt)
            d[_A_CT] += max(0, ct - a_ct)
            d[_A_COST] += max(0, cost - a_cost)

    def add_all(self, records: Iterable[Any]) -> RollupDelta:
        add = self.add
        for r in records:
            add(r)
        return self

    def levels(self) -> Levels:
        """The batch's groups at each resolution: minutes as added, hours and days summed
        from them."""
        out: Levels = [(MINUTE_S, self.groups)]
        for res in RESOLUTIONS[1:]:
            parts: dict[Key, list[_Group]] = {}
            for (minute, route, deployment), g in self.groups.items():
                parts.setdefault((minute - minute % res, route, deployment), []).append(g)
            merged: dict[Key, _Group] = {}
            for key, groups in parts.items():
                if len(groups) == 1:  # most batches span one minute: share, never modified
                    merged[key] = groups[0]
                    continue
                into = merged[key] = _Group()
                for g in groups:
                    into.merge(g)
            out.append((res, merged))
        return out

    def counter_rows(self, levels: Levels | None = None) -> list[tuple]:
        """(res, period, route, deployment, *ROLLUP_COUNTERS) per group, in one lock order."""
        return [(res, *k, *g.c) for res, groups in levels or self.levels()
                for k, g in sorted(groups.items())]

    def histogram_rows(self, levels: Levels | None = None) -> list[tuple]:
        """(res, series, period, route, deployment, octave, *SLOTS) per octave with counts:
        one row holds one doubling of buckets. Request series are kept per route
        (deployment ""), attempt series per deployment (route ""): those are the only ways
        they are read, and it keeps the rows (and a percentile's reads) few."""
        rows = []
        for res, groups in levels or self.levels():
            for (series, period, route, deployment), hist in sorted(_by_reader(groups).items()):
                by_octave: dict[int, list[int]] = {}
                for bucket, n in hist.items():
                    octave, slot = divmod(bucket, BUCKETS_PER_DOUBLING)
                    slots = by_octave.get(octave)
                    if slots is None:
                        slots = by_octave[octave] = [0] * BUCKETS_PER_DOUBLING
                    slots[slot] += n
                rows.extend((res, series, period, route, deployment, o, *by_octave[o])
                            for o in sorted(by_octave))
        return rows

    def error_rows(self, levels: Levels | None = None) -> list[tuple]:
        """(res, series, period, route, deployment, kind, n) per error kind seen."""
        return [
            (res, series, *k, kind, n)
            for res, groups in levels or self.levels()
            for series in (REQUEST, ATTEMPT)
            for k, g in sorted(groups.items())
            for kind, n in sorted((g.request_errors if series == REQUEST
                                   else g.attempt_errors).items())
        ]


_KEYS = ("res", "period", "route", "deployment")
_SERIES_KEYS = ("res", "series", "period", "route", "deployment")


def apply_delta(
    conn: Connection, delta: RollupDelta, *, native: bool | None = None, max_params: int = 0,
    levels: Levels | None = None,
) -> None:
    """Add a batch's delta to the stored rollups, at every resolution (or the groups
    `levels` gives at each), inside the caller's transaction."""
    levels = levels if levels is not None else delta.levels()
    for table, keys, counters, rows in (
        (rollup_table, _KEYS, ROLLUP_COUNTERS, delta.counter_rows(levels)),
        (rollup_hist_table, (*_SERIES_KEYS, "octave"), SLOTS, delta.histogram_rows(levels)),
        (rollup_error_table, (*_SERIES_KEYS, "kind"), ("n",), delta.error_rows(levels)),
    ):
        increment(conn, table, keys, counters, rows, native=native, max_params=max_params)
