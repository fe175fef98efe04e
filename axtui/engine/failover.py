"""What to do after a failed attempt, and how long to wait first.

The engine is the only retry loop (adapters never retry), so this table is the whole
retry policy: per error kind, try the next deployment, switch to a fallback route, or give up.
"""

from __future__ import annotations

import random
from enum import StrEnum

from axtui.records import ErrorKind

MAX_HONOURED_RETRY_AFTER_S = 60.0
# A 429 honoured (its cooldown waited out) does not use up a route's max_attempts; this
# bounds how many one request may meet, deadline and max_queue_wait_ms aside.
MAX_RATE_LIMITED_ATTEMPTS = 10
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0


class Next(StrEnum):
    next_deployment = "next_deployment"  # another candidate (or this one again, after backoff)
    context_fallback = "context_fallback"  # a route with a larger window
    give_up = "give_up"  # the request itself is at fault: no other deployment will help


# Failures of the upstream: any other deployment may well succeed.
_UPSTREAM = {
    ErrorKind.rate_limited, ErrorKind.overloaded, ErrorKind.server, ErrorKind.timeout,
    ErrorKind.connect, ErrorKind.malformed, ErrorKind.not_found, ErrorKind.auth,
}
# Failures of the request: the same request fails everywhere.
_REQUEST = {ErrorKind.bad_request, ErrorKind.content_policy, ErrorKind.unsupported}


def decide(kind: ErrorKind) -> Next:
    if kind is ErrorKind.context_length:
        return Next.context_fallback
    if kind in _REQUEST:
        return Next.give_up
    if kind in _UPSTREAM:
        return Next.next_deployment
    return Next.give_up


def may_retry_same(kind: ErrorKind, retryable: bool) -> bool:
    """Whether the same deployment is worth a second try (only when it is the last one)."""
    if not retryable:
        return False
    return kind in {
        ErrorKind.rate_limited, ErrorKind.overloaded, ErrorKind.server, ErrorKind.timeout,
        ErrorKind.connect, ErrorKind.malformed,
    }


def backoff_s(
    failures: int,
    retry_after_s: float | None,
    *,
    other_healthy: bool,
    rng: random.Random,
) -> float | None:
    """Seconds to wait before the next attempt; None means waiting is pointless (the
    upstream asked for longer than we honour and there is nowhere else to go).

    0 when another healthy deployment is next; the upstream's retry-after when it is at
    most 60 s; else exponential with full jitter, capped."""
    if other_healthy:
        return 0.0
    if retry_after_s is not None:
        if retry_after_s <= MAX_HONOURED_RETRY_AFTER_S:
            return retry_after_s
        return None
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** max(0, failures - 1)))
    return rng.uniform(ceiling / 2, ceiling)


# built once: a dict literal per call hashed its 19 enum keys in Python each time
_STATUS = {
    ErrorKind.rate_limited: 429,
    ErrorKind.quota: 429,
    ErrorKind.budget: 429,
    ErrorKind.overloaded: 503,
    ErrorKind.no_candidates: 503,
    ErrorKind.server: 502,
    ErrorKind.malformed: 502,
    ErrorKind.connect: 502,
    ErrorKind.auth: 502,  # our upstream credentials, not the caller's
    ErrorKind.not_found: 502,
    ErrorKind.timeout: 504,
    ErrorKind.deadline: 504,
    ErrorKind.bad_request: 400,
    ErrorKind.context_length: 400,
    ErrorKind.content_policy: 400,
    ErrorKind.unsupported: 400,
    ErrorKind.no_route: 404,
    ErrorKind.cancelled: 499,
    ErrorKind.interrupted: 502,
}


def status_for(kind: ErrorKind) -> int:
    """The HTTP status a caller sees when a request ends with this kind."""
    return _STATUS.get(kind, 502)
