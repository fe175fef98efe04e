"""IP, route and global quotas are shared through Redis like the user and key ones: two
engines (two gateway processes' worth) on one real redis-server count together, and
`status`/`reset` read and write the shared counters."""

from __future__ import annotations

from axtui.engine.limits import GLOBAL


def test_an_ips_rpm_counts_requests_admitted_by_either_engine(pair):
    one, two = pair(quotas={"per_ip": {"rpm": 2}})
    assert one.check(None, None, ip="10.0.0.1").ok and two.check(None, None, ip="10.0.0.1").ok
    refused = one.check(None, None, ip="10.0.0.1")
    assert not refused.ok and refused.scope == "ip"
    assert refused.reason == "ip rate limit: 2 requests per minute"
    assert two.check(None, None, ip="10.0.0.2").ok
    assert one.local_decisions == two.local_decisions == 0


def test_a_route_and_the_global_quota_are_one_count_for_the_fleet(pair):
    one, two = pair(quotas={"per_route": {"chat": {"rpm": 1}}, "global": {"tpm": 1000}})
    assert one.check("u1", None, 10, route="chat").ok
    refused = two.check("u2", None, 10, route="chat")
    assert refused.scope == "route" and refused.reason == (
        "route chat rate limit: 1 requests per minute")
    one.record("u1", None, 995, 0, route="chat")
    one.link.flush()
    refused = two.check("u3", None, 10)
    assert refused.scope == "global"
    assert refused.reason == "global token limit: 1000 tokens per minute"


def test_status_reads_the_shared_counters_and_reset_clears_them_for_everyone(pair):
    one, two = pair(quotas={"per_ip": {"rpm": 3, "spend_day_usd": "5"}})
    one.check(None, None, ip="10.0.0.1")
    two.check(None, None, ip="10.0.0.1")
    two.record(None, None, 0, 1_500_000_000, ip="10.0.0.1")
    two.link.flush()  # what its poll does
    s = one.status("ip", "10.0.0.1")  # what the other engine counted is there too
    assert s["rpm"]["limit"] == 3 and s["rpm"]["remaining"] == 1
    assert s["spend_day"] == {"limit_usd": "5", "spent_usd": "1.5"}
    assert one.reset("ip", "10.0.0.1") is True
    assert two.status("ip", "10.0.0.1")["rpm"]["remaining"] == 3
    assert two.status("ip", "10.0.0.1")["spend_day"]["spent_usd"] == "0"
    assert one.status("global", GLOBAL) is None
