"""Percentiles: the one definition (nearest rank), exact over values or estimated from a
log-bucket histogram within ALPHA relative error.

The histogram is DDSketch's layout with fixed bounds: bucket i holds [γ^i, γ^(i+1)) ms,
γ = 2^(1/18) (18 buckets per doubling), and a bucket reports 2γ^(i+1)/(γ+1), which is within
(γ-1)/(γ+1) < 1.93% of every value in it. Counts of the same bucket add, so histograms of
any minutes, hours or days merge exactly and the estimate stays within 1.93% of the exact
nearest-rank value over any window. Values below 2^-10 ms count as 0; the last bucket
starts at 2^24 ms (4.7 h) and is open.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

BUCKETS_PER_DOUBLING = 18
GAMMA = 2 ** (1 / BUCKETS_PER_DOUBLING)
ALPHA = (GAMMA - 1) / (GAMMA + 1)  # worst relative error of a bucket's reported value
MIN_OCTAVE = -10  # 2^-10 ms: below it, a value is 0
MAX_OCTAVE = 23  # the last octave; its last bucket is open above 2^24 ms
ZERO_BUCKET = (MIN_OCTAVE - 1) * BUCKETS_PER_DOUBLING  # values below 2^MIN_OCTAVE ms
MAX_BUCKET = (MAX_OCTAVE + 1) * BUCKETS_PER_DOUBLING - 1
_MIN_MS = 2.0**MIN_OCTAVE
_MAX_MS = GAMMA**MAX_BUCKET
_MID = 2 * GAMMA / (GAMMA + 1)  # a bucket's reported value, over its lower bound


def rank(n: int, q: float) -> int:
    """The 1-based nearest rank of the q-quantile (0..1) among n values."""
    return min(n, max(1, math.ceil(q * n)))


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The exact q-quantile (0..1) of ascending values by nearest rank; None when empty."""
    if not sorted_values:
        return None
    return sorted_values[rank(len(sorted_values), q) - 1]


def bucket_of(ms: float) -> int:
    if not ms >= _MIN_MS:  # also NaN
        return ZERO_BUCKET
    if ms >= _MAX_MS:  # also inf
        return MAX_BUCKET
    return math.floor(math.log2(ms) * BUCKETS_PER_DOUBLING)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """[low, high) of a bucket in ms (the zero bucket is [0, 2^-10); the last is open)."""
    if bucket <= ZERO_BUCKET:
        return 0.0, _MIN_MS
    low = GAMMA**bucket
    return low, math.inf if bucket >= MAX_BUCKET else GAMMA ** (bucket + 1)


def bucket_value(bucket: int) -> float:
    """The value a bucket reports: within ALPHA of everything in it (0 for the zero bucket)."""
    if bucket <= ZERO_BUCKET:
        return 0.0
    return GAMMA**bucket * _MID


def first_bucket_over(ms: float) -> int:
    """The first bucket whose reported value is over `ms`: bucket values rise with the
    bucket, so exactly the buckets from this one on report more than `ms` (MAX_BUCKET + 1
    when none does)."""
    b = max(bucket_of(ms), ZERO_BUCKET)
    while b > ZERO_BUCKET and bucket_value(b - 1) > ms:
        b -= 1
    while b <= MAX_BUCKET and bucket_value(b) <= ms:
        b += 1
    return b


def histogram_percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a {bucket: count} histogram, by nearest rank; None when
    empty. Within ALPHA of `percentile` over the values the histogram counted."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    target = rank(total, q)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= target:
            return bucket_value(bucket)
    return bucket_value(max(histogram))  # not reached: counts are positive
