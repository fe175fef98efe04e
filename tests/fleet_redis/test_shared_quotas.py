from __future__ import annotations

import math

from tests.fleet_redis.processes import run_workers


def test_a_600_rpm_key_quota_holds_across_four_processes(redis_url):
    results = run_workers(*[("quota", redis_url, "400") for _ in range(4)])
    admitted = sum(r["admitted"] for r in results)
    assert all(r["local"] == 0 for r in results)  # every decision was the shared one
    # a GCRA lets the burst of 600 through, then refills at 10 a second while they run
    span = max(r["last"] for r in results) - min(r["first"] for r in results)
    assert 600 <= admitted <= 600 + math.ceil(span * 10) + 1, (admitted, span)
    assert sum(r["refused"] for r in results) == 1600 - admitted


def test_without_redis_each_process_would_count_alone():
    """The failure the fleet fixes: in-process quotas let 600 per process through."""
    results = run_workers(*[("quota", "", "400") for _ in range(2)])
    assert [r["admitted"] for r in results] == [400, 400]
