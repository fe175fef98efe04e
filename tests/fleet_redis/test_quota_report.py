"""The quota report a shared engine puts in its heartbeat reads the fleet's counters: what
another engine counted shows, with remaining as the whole requests left; while Redis is
away it says the figures are this process's own."""

from __future__ import annotations


async def test_the_report_shows_what_every_engine_counted(pair):
    one, two = pair(quotas={"per_ip": {"rpm": 7},
                            "global": {"rpm": 6000, "spend_day_usd": "10"}})
    assert one.check(None, None, ip="10.0.0.1").ok
    for _ in range(2):
        assert two.check(None, None, ip="10.0.0.1").ok
    two.record(None, None, 0, 250_000_000, ip="10.0.0.1")
    two.link.flush()  # what its poll does
    report = await one.report()
    assert report["shared"] is True and report["note"] is None
    ip, everyone = report["scopes"]
    assert (ip["scope"], ip["rpm"], ip["callers"]) == ("ip", 7, 1)
    [caller] = ip["top"]
    assert caller["who"] == "10.0.0.1"
    assert caller["rpm"] == {"limit": 7, "used": 3.0, "remaining": 4}
    assert (everyone["scope"], everyone["who"]) == ("global", "*")
    [g] = everyone["top"]
    assert g["rpm"]["remaining"] == 5997
    assert g["spend"] == {"limit_nano": 10_000_000_000, "spent_nano": 250_000_000,
                          "remaining_nano": 9_750_000_000}


async def test_while_redis_is_away_the_report_says_the_counts_are_this_processs(pair):
    one, _ = pair(quotas={"global": {"rpm": 60}})
    one.link._failed(ConnectionError("test: redis went away"))
    assert one.check(None, None).ok  # decided here
    report = await one.report()
    assert report["shared"] is False
    assert report["note"] == "redis down: this process's own counts"
    assert report["scopes"][0]["top"][0]["rpm"]["remaining"] == 59
