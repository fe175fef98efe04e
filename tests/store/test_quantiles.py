"""Percentiles from log-bucket histograms stay within 2% of the exact ones, over any merge."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from axtui.quantiles import (
    ALPHA,
    MAX_BUCKET,
    ZERO_BUCKET,
    bucket_bounds,
    bucket_of,
    bucket_value,
    first_bucket_over,
    histogram_percentile,
    percentile,
)

latencies = st.floats(min_value=0.001, max_value=1e7, allow_nan=False)
quantiles = st.floats(min_value=0.0, max_value=1.0)


def histogram(values: list[float]) -> dict[int, int]:
    h: dict[int, int] = {}
    for v in values:
        h[bucket_of(v)] = h.get(bucket_of(v), 0) + 1
    return h


def test_the_bucket_layout_promises_under_two_percent():
    assert ALPHA < 0.02


@given(st.lists(latencies, min_size=1, max_size=400), quantiles)
@settings(max_examples=300, deadline=None)
def test_a_histogram_percentile_is_within_two_percent_of_the_exact_one(values, q):
    exact = percentile(sorted(values), q)
    estimate = histogram_percentile(histogram(values), q)
    assert abs(estimate - exact) <= 0.02 * exact


@given(st.lists(st.lists(latencies, min_size=1, max_size=50), min_size=1, max_size=12),
       quantiles)
@settings(max_examples=100, deadline=None)
def test_merged_histograms_of_many_periods_keep_the_bound(periods, q):
    merged: dict[int, int] = {}
    for values in periods:
        for b, n in histogram(values).items():
            merged[b] = merged.get(b, 0) + n
    everything = sorted(v for values in periods for v in values)
    exact = percentile(everything, q)
    assert abs(histogram_percentile(merged, q) - exact) <= 0.02 * exact


@given(latencies)
def test_every_value_lies_in_its_bucket_and_near_what_the_bucket_reports(v):
    b = bucket_of(v)
    low, high = bucket_bounds(b)
    assert low <= v < high or b == MAX_BUCKET
    if b != MAX_BUCKET:
        assert abs(bucket_value(b) - v) <= ALPHA * v * (1 + 1e-9)


def test_zero_and_nonsense_count_as_zero():
    for v in (0.0, -3.0, float("nan"), 1e-6):
        assert bucket_of(v) == ZERO_BUCKET and bucket_value(bucket_of(v)) == 0.0
    assert histogram_percentile({ZERO_BUCKET: 3}, 0.5) == 0.0
    assert bucket_of(math.inf) == MAX_BUCKET


def test_nothing_counted_has_no_percentile():
    assert histogram_percentile({}, 0.5) is None
    assert percentile([], 0.5) is None


def test_the_exact_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.0)) == (
        50.0, 95.0, 1.0)


@given(st.floats(min_value=0.0, max_value=1e9, allow_nan=False))
def test_the_buckets_reporting_more_than_a_threshold_are_those_from_first_bucket_over(ms):
    cut = first_bucket_over(ms)
    around = range(max(ZERO_BUCKET, cut - 40), min(MAX_BUCKET, cut + 40) + 1)
    assert [b for b in around if bucket_value(b) > ms] == [b for b in around if b >= cut]


def test_no_bucket_reports_more_than_a_threshold_past_the_last_one():
    assert first_bucket_over(math.inf) == MAX_BUCKET + 1
    assert first_bucket_over(0.0) == ZERO_BUCKET + 1  # the zero bucket reports 0
