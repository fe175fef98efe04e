"""A client that leaves cancels the upstream call, and the record says `cancelled`."""

from __future__ import annotations

import time

import httpx
import pytest

from .conftest import KEYS, Env
from .harness import wait_for_records

AUTH = {"authorization": f"Bearer {KEYS['alice']}"}
HELLO = [{"role": "user", "content": "hi"}]


def test_a_client_that_times_out_cancels_the_upstream_call(env: Env):
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{env.base_url}/chat/completions", headers=AUTH, timeout=0.3,
                   json={"model": "slow", "messages": HELLO})
    [rec] = wait_for_records(env.served.store_url, lambda r: r.requested_route == "slow")
    assert rec.outcome == "cancelled"
    assert rec.error_kind == "cancelled"
    assert rec.latency_ms < 1000  # the slow upstream takes 1.5 s to answer
    assert env.slow.received == 1
    time.sleep(max(0.0, 1.7 - (time.monotonic() - t0)))
    assert env.slow.served == 0  # the upstream's handler was cut, not left to finish


def test_a_client_that_leaves_a_stream_cancels_it(env: Env):
    env.a.answer("one two three four five six seven", event_delay_s=0.4, slow_from=2)
    with httpx.stream("POST", f"{env.base_url}/chat/completions", headers=AUTH, timeout=5,
                      json={"model": "chat", "messages": HELLO, "stream": True}) as r:
        rid = r.headers["x-request-id"]
        first = next(r.iter_lines())
        assert first.startswith("data: {")
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    assert rec.outcome == "cancelled"
    assert rec.stream and rec.deployment == "a/gpt-a"
    assert rec.attempts[-1].error_kind == "cancelled"
    assert rec.latency_ms < 1500  # the whole answer would take over 2 s
