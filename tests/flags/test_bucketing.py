"""Bucketing agrees with Unleash's gradual rollout, and cohorts only grow as the percentage
rises (and only shrink as it falls), tenths of a percent included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axtui.flags.bucketing import in_cohort, normalized, variant_index

# Published by Unleash: the java client's cross-client test, and the client-specification
# cases 03 (gradualRolloutUserId, group AB12A) and 10 (flexibleRollout, groupId = name).
UNLEASH_NORMALIZED = [("gr1", "123", 73), ("groupX", "999", 25)]
UNLEASH_CASES = [
    ("AB12A", "122", 50, True),
    ("AB12A", "155", 50, False),
    ("AB12A", "123", 100, True),
    ("AB12A", "122", 0, False),
    ("Feature.flexibleRollout.10", "174", 10, True),
    ("Feature.flexibleRollout.10", "499", 10, False),
    ("Feature.flexibleRollout.userId.55", "25", 55, True),
    ("Feature.flexibleRollout.sessionId.42", "147", 42, True),
]


@pytest.mark.parametrize(("group", "uid", "expected"), UNLEASH_NORMALIZED)
def test_normalized_values_match_unleash(group, uid, expected):
    assert normalized(group, uid) == expected


@pytest.mark.parametrize(("group", "uid", "pct", "enabled"), UNLEASH_CASES)
def test_whole_percentages_decide_like_unleash(group, uid, pct, enabled):
    assert in_cohort(group, uid, pct * 10) is enabled


def test_whole_percentages_are_exactly_unleash_rule_for_many_ids():
    for i in range(2000):
        uid = f"user-{i}"
        b = normalized("salt", uid)
        for pct in (1, 5, 33, 99):
            assert in_cohort("salt", uid, pct * 10) is (b <= pct)


@given(uid=st.text(min_size=1, max_size=40), salt=st.text(max_size=20),
       a=st.integers(0, 1000), b=st.integers(0, 1000))
def test_raising_the_percentage_only_adds_units(uid, salt, a, b):
    lo, hi = min(a, b), max(a, b)
    if in_cohort(salt, uid, lo):
        assert in_cohort(salt, uid, hi)
    if not in_cohort(salt, uid, hi):
        assert not in_cohort(salt, uid, lo)


@given(uids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=50, unique=True),
       steps=st.lists(st.integers(0, 1000), min_size=2, max_size=6))
def test_a_ladder_of_changes_keeps_cohorts_nested(uids, steps):
    cohorts = [{u for u in uids if in_cohort("flag", u, p)} for p in steps]
    for i in range(len(steps) - 1):
        before, after = cohorts[i], cohorts[i + 1]
        assert (before <= after) if steps[i] <= steps[i + 1] else (after <= before)


@pytest.mark.parametrize("tenth", [5, 25, 125])  # 0.5 %, 2.5 %, 12.5 %
def test_tenths_of_a_percent_hold_about_that_share(tenth):
    n = 200_000
    inside = sum(in_cohort("share", str(i), tenth) for i in range(n))
    expected = n * tenth / 1000
    assert abs(inside - expected) < 4 * (expected ** 0.5) + 5


def test_zero_and_hundred_are_none_and_all():
    assert not any(in_cohort("s", str(i), 0) for i in range(500))
    assert all(in_cohort("s", str(i), 1000) for i in range(500))


def test_weighted_variants_follow_their_weights_and_stick():
    counts = [0, 0]
    for i in range(20_000):
        counts[variant_index("s", str(i), (3.0, 1.0))] += 1
    assert 0.72 < counts[0] / 20_000 < 0.78
    assert all(variant_index("s", "alice", (3.0, 1.0)) == variant_index("s", "alice", (3.0, 1.0))
               for _ in range(3))
