"""Per-minute rollups: aggregate a batch of records in memory, then add it to the store.

Keys are (minute, route, deployment). Request counters go to the deployment that served
(or "" when none did): route success and latency count requests. Attempt counters go to
each attempted deployment: deployment health counts attempts. Latencies land in fixed log
buckets, four per doubling, so p50/p95 over any range of minutes are sums of buckets and
are within one bucket (under 19%) of the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection

from axtui.records import ErrorKind, Outcome
from axtui.store.bulk import increment
from axtui.store.tables import (
    ROLLUP_COUNTERS,
    RollupErrorRow,
    RollupHistogramRow,
    RollupRow,
)

MINUTE_S = 60
_OUTCOME_OK = Outcome.ok.value
_CANCELLED = ErrorKind.cancelled.value
BUCKETS_PER_DOUBLING = 4
BUCKET_RATIO = 2 ** (1 / BUCKETS_PER_DOUBLING)
# Bucket 0 holds < 1 ms; bucket i >= 1 holds [2^((i-1)/4), 2^(i/4)) ms; the last one is open.
LAST_BUCKET = 1 + 20 * BUCKETS_PER_DOUBLING  # 2^20 ms (~17 min) and beyond

REQUEST = "request"
ATTEMPT = "attempt"
REQUEST_TTFT = "request_ttft"
ATTEMPT_TTFT = "attempt_ttft"
_REJECTED_OUTCOME = Outcome.rejected.value

Key = tuple[int, str, str]  # minute, route, deployment
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


def bucket_of(ms: float) -> int:
    if not ms >= 1.0:  # also catches NaN
        return 0
    return min(LAST_BUCKET, 1 + int(math.log2(ms) * BUCKETS_PER_DOUBLING))


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """The [low, high) range of a bucket in ms (the open last bucket reports its low twice)."""
    if bucket <= 0:
        return 0.0, 1.0
    low = 2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING)
    return low, (low if bucket >= LAST_BUCKET else low * BUCKET_RATIO)


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """Estimate the q-quantile (0..1) in ms, interpolating geometrically inside a bucket."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(histogram):
        n = histogram[bucket]
        if n <= 0:
            continue
        if seen + n >= rank:
            low, high = bucket_bounds(bucket)
            frac = min(1.0, max(0.0, (rank - seen) / n))
            if bucket == 0:
                return high * frac
            return low * (high / low) ** frac
        seen += n
    return bucket_bounds(max(histogram))[1]


class _Group:
    """Counters, latency histograms and error kinds of one (minute, route, deployment)."""

    __slots__ = ("c", "request_hist", "attempt_hist", "request_ttft_hist", "attempt_ttft_hist",
                 "request_errors", "attempt_errors")

    def __init__(self) -> None:
        self.c: list[float] = [0] * len(ROLLUP_COUNTERS)
        self.request_hist = [0] * (LAST_BUCKET + 1)
        self.attempt_hist = [0] * (LAST_BUCKET + 1)
        self.request_ttft_hist = [0] * (LAST_BUCKET + 1)
        self.attempt_ttft_hist = [0] * (LAST_BUCKET + 1)
        self.request_errors: dict[str, int] = {}
        self.attempt_errors: dict[str, int] = {}


class RollupDelta:
    """What one batch adds to the rollups (a hot loop: one pass, plain lists)."""

    def __init__(self) -> None:
        self.groups: dict[Key, _Group] = {}

    def _group(self, key: Key) -> _Group:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group()
        return g

    def add(self, r: dict) -> None:
        """Add one record: the dict of its fields, as parsed from its JSON or a model's own
        `__dict__` (nested usage and attempts as dicts or models; enums as StrEnum members
        or their strings, which compare and hash alike)."""
        minute = int(r["started_at"] // MINUTE_S) * MINUTE_S
        route = r["route"]
        served = r["deployment"]
        g = self._group((minute, route, served or ""))
        c = g.c
        c[_REQUESTS] += 1
        cost = r["cost_nano"]
        outcome = r["outcome"]
        if outcome == _OUTCOME_OK:
            c[_OK] += 1
        else:
            c[_ERRORS] += 1
            if outcome == _REJECTED_OUTCOME:
                c[_REJECTED] += 1
            kind = r["error_kind"] or r["outcome"]
            g.request_errors[kind] = g.request_errors.get(kind, 0) + 1
        attempts = r["attempts"]
        if len(attempts) > 1:
            c[_FAILOVERS] += 1
        if attempts:  # refused requests never reached a provider: not a latency sample
            latency = r["latency_ms"]
            c[_LAT_N] += 1
            c[_LAT_SUM] += latency
            g.request_hist[bucket_of(latency)] += 1
        ttft = r["ttft_ms"]
        if ttft is not None:
            c[_TTFT_N] += 1
            c[_TTFT_SUM] += ttft
            g.request_ttft_hist[bucket_of(ttft)] += 1
        usage = r["usage"]
        pt = ct = 0
        if usage is not None:
            if type(usage) is not dict:
                usage = usage.__dict__
            pt, ct = usage["prompt_tokens"], usage["completion_tokens"]
            c[_PT] += pt
            c[_CT] += ct
        c[_COST] += cost
        optimal = r["optimal_cost_nano"]
        c[_OPT_COST] += cost if optimal is None else optimal

        a_pt = a_ct = a_cost = 0
        ag = g
        last = len(attempts) - 1
        for i, a in enumerate(attempts):
            if type(a) is not dict:
                a = a.__dict__
            deployment = a["deployment"]
            ag = g if deployment == served else self._group((minute, route, deployment))
            d = ag.c
            error_kind = a["error_kind"]
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
                latency = a["latency_ms"]
                d[_A_LAT_SUM] += latency
                ag.attempt_hist[bucket_of(latency)] += 1
                ttft = a["ttft_ms"]
                if ttft is not None:
                    d[_A_TTFT_N] += 1
                    d[_A_TTFT_SUM] += ttft
                    ag.attempt_ttft_hist[bucket_of(ttft)] += 1
                if i < last:
                    d[_A_FAILOVERS] += 1
            a_usage = a["usage"]
            if a_usage is not None:
                if type(a_usage) is not dict:
                    a_usage = a_usage.__dict__
                upt, uct = a_usage["prompt_tokens"], a_usage["completion_tokens"]
                a_pt += upt
                a_ct += uct
                d[_A_PT] += upt
                d[_A_CT] += uct
            d[_A_COST] += a["cost_nano"]
            a_cost += a["cost_nano"]
        # Tokens or cost the record carries beyond its attempts' own go to the deployment
        # that served (else the last one tried), so totals agree by route and by deployment.
        if pt > a_pt or ct > a_ct or cost > a_cost:
            d = (g if served is not None else ag).c
            d[_A_PT] += max(0, pt - a_pt)
            d[_A_CT] += max(0, ct - a_ct)
            d[_A_COST] += max(0, cost - a_cost)

    def add_all(self, records: Iterable[dict]) -> RollupDelta:
        add = self.add
        for r in records:
            add(r)
        return self

    def counter_rows(self) -> list[tuple]:
        """(minute, route, deployment, *ROLLUP_COUNTERS) per group, in one lock order."""
        return [(*k, *g.c) for k, g in sorted(self.groups.items())]

    def histogram_rows(self) -> list[tuple]:
        """(minute, route, deployment, series, bucket, n) per non-empty bucket."""
        return [
            (*k, series, b, n)
            for k, g in sorted(self.groups.items())
            for series, hist in (
                (REQUEST, g.request_hist),
                (ATTEMPT, g.attempt_hist),
                (REQUEST_TTFT, g.request_ttft_hist),
                (ATTEMPT_TTFT, g.attempt_ttft_hist),
            )
            for b, n in enumerate(hist)
            if n
        ]

    def error_rows(self) -> list[tuple]:
        """(minute, route, deployment, series, kind, n) per error kind seen."""
        return [
            (*k, series, kind, n)
            for k, g in sorted(self.groups.items())
            for series, errors in ((REQUEST, g.request_errors), (ATTEMPT, g.attempt_errors))
            for kind, n in sorted(errors.items())
        ]


_KEYS = ("minute", "route", "deployment")


def apply_delta(
    conn: Connection, delta: RollupDelta, *, native: bool | None = None, max_params: int = 0
) -> None:
    """Add a batch's delta to the stored rollups inside the caller's transaction."""
    for table, keys, counters, rows in (
        (RollupRow.__table__, _KEYS, ROLLUP_COUNTERS, delta.counter_rows()),
        (
            RollupHistogramRow.__table__,
            (*_KEYS, "series", "bucket"),
            ("n",),
            delta.histogram_rows(),
        ),
        (RollupErrorRow.__table__, (*_KEYS, "series", "kind"), ("n",), delta.error_rows()),
    ):
        increment(conn, table, keys, counters, rows, native=native, max_params=max_params)
