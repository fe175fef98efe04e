"""The retry policy: what follows a failed attempt, and how long to wait first."""

from __future__ import annotations

import random

import pytest

from axtui.engine.failover import (
    BACKOFF_CAP_S,
    Next,
    backoff_s,
    decide,
    may_retry_same,
    status_for,
)
from axtui.records import ErrorKind as K


@pytest.mark.parametrize("kind,expected", [
    (K.rate_limited, Next.next_deployment),
    (K.overloaded, Next.next_deployment),
    (K.server, Next.next_deployment),
    (K.timeout, Next.next_deployment),
    (K.connect, Next.next_deployment),
    (K.malformed, Next.next_deployment),
    (K.not_found, Next.next_deployment),  # this deployment's model id, not the request
    (K.auth, Next.next_deployment),  # our key for this vendor, not the caller's
    (K.context_length, Next.context_fallback),
    (K.bad_request, Next.give_up),
    (K.content_policy, Next.give_up),
    (K.cancelled, Next.give_up),
    (K.deadline, Next.give_up),
])
def test_what_follows_each_kind_of_failure(kind, expected):
    assert decide(kind) is expected


@pytest.mark.parametrize("kind", [K.rate_limited, K.overloaded, K.server, K.timeout,
                                  K.connect, K.malformed])
def test_transient_failures_may_retry_the_same_deployment(kind):
    assert may_retry_same(kind, retryable=True)
    assert not may_retry_same(kind, retryable=False)


@pytest.mark.parametrize("kind", [K.auth, K.not_found, K.bad_request, K.context_length])
def test_lasting_failures_never_retry_the_same_deployment(kind):
    assert not may_retry_same(kind, retryable=True)


def test_no_wait_when_another_healthy_deployment_is_next():
    rng = random.Random(0)
    assert backoff_s(3, 30.0, other_healthy=True, rng=rng) == 0.0
    assert backoff_s(1, None, other_healthy=True, rng=rng) == 0.0


def test_the_upstreams_retry_after_is_honoured_up_to_a_minute():
    rng = random.Random(0)
    assert backoff_s(1, 2.5, other_healthy=False, rng=rng) == 2.5
    assert backoff_s(1, 60.0, other_healthy=False, rng=rng) == 60.0


def test_a_retry_after_beyond_a_minute_means_do_not_wait():
    assert backoff_s(1, 61.0, other_healthy=False, rng=random.Random(0)) is None


def test_without_retry_after_backoff_grows_exponentially_with_jitter():
    rng = random.Random(0)
    for failures, ceiling in [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0)]:
        waits = [backoff_s(failures, None, other_healthy=False, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not a fixed step


def test_backoff_is_capped():
    rng = random.Random(0)
    waits = [backoff_s(50, None, other_healthy=False, rng=rng) for _ in range(200)]
    assert max(waits) <= BACKOFF_CAP_S
    assert min(waits) >= BACKOFF_CAP_S / 2


def test_backoff_is_reproducible_with_a_seeded_rng():
    a = [backoff_s(3, None, other_healthy=False, rng=random.Random(9)) for _ in range(3)]
    b = [backoff_s(3, None, other_healthy=False, rng=random.Random(9)) for _ in range(3)]
    assert a == b


@pytest.mark.parametrize("kind,status", [
    (K.rate_limited, 429), (K.budget, 429), (K.quota, 429), (K.overloaded, 503),
    (K.no_candidates, 503), (K.timeout, 504), (K.deadline, 504), (K.bad_request, 400),
    (K.context_length, 400), (K.no_route, 404), (K.auth, 502), (K.server, 502),
])
def test_the_status_a_caller_sees(kind, status):
    assert status_for(kind) == status
