"""The shared quotas count whole requests exactly: a burst of exactly the limit at one
instant is admitted and the next refused, whatever the limit, and `remaining` (in
`ratelimit status`, the x-ratelimit headers and the heartbeat's quota report) is the floor of
limit - used: what the next checks would admit. Unix-time TATs once rounded each take the
same way, so a limit of 7 admitted 6 and said 5 were left after the first."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("rpm", [7, 19, 101, 997])
def test_a_burst_of_exactly_the_limit_is_admitted_and_the_next_refused(pair, rpm):
    one, _ = pair(quotas={"per_ip": {"rpm": rpm}})
    admitted = sum(one.check(None, None, ip="10.0.0.1").ok for _ in range(rpm + 1))
    assert admitted == rpm


@pytest.mark.parametrize("rpm", [7, 13, 101])
def test_remaining_is_the_whole_requests_left_after_each_admit(pair, clock, rpm):
    one, two = pair(quotas={"per_ip": {"rpm": rpm}})
    clock.advance(0.123456)  # a time with a fraction, like a real one
    for n in range(1, rpm + 1):
        assert one.check(None, None, ip="10.0.0.1").ok
        status = two.status("ip", "10.0.0.1")["rpm"]  # the other engine reads it too
        headers = one.remaining(None, None, ip="10.0.0.1").remaining_requests
        assert (status["remaining"], headers) == (rpm - n, rpm - n)


def test_remaining_grows_back_by_whole_requests_as_the_window_refills(pair, clock):
    one, _ = pair(quotas={"per_ip": {"rpm": 6}})
    for _ in range(6):
        one.check(None, None, ip="10.0.0.1")
    clock.advance(9.999)  # just short of one request's 10 s
    assert one.status("ip", "10.0.0.1")["rpm"]["remaining"] == 0
    clock.advance(0.001)
    assert one.status("ip", "10.0.0.1")["rpm"]["remaining"] == 1
    assert one.check(None, None, ip="10.0.0.1").ok
    assert not one.check(None, None, ip="10.0.0.1").ok


def test_tokens_in_debt_leave_none_remaining_never_a_negative_count(pair):
    one, _ = pair(quotas={"global": {"tpm": 1000}})
    one.record("u1", None, 2500, 0)  # post-paid: a long answer runs the window into debt
    one.link.flush()
    tpm = one.status("global", "*")["tpm"]
    assert tpm["limit"] == 1000 and tpm["used"] == pytest.approx(2500, abs=0.01)
    assert tpm["remaining"] == 0
