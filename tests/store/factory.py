"""Records shaped like the engine writes them, for store and trace tests."""

from __future__ import annotations

import itertools

from axtui.records import Attempt, ErrorKind, Outcome, RequestRecord, Usage

T0 = 1_767_225_600.0  # a minute boundary (2026-01-01T00:00:00Z)
_ids = itertools.count()


def attempt(
    deployment: str = "openai/gpt-4o-mini",
    *,
    started_at: float = T0,
    latency_ms: float = 420.0,
    error_kind: ErrorKind | None = None,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cost_nano: int = 5_000,
    ttft_ms: float | None = None,
) -> Attempt:
    failed = error_kind is not None
    return Attempt(
        deployment=deployment,
        started_at=started_at,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        status=(429 if error_kind is ErrorKind.rate_limited else 503) if failed else 200,
        error_kind=error_kind,
        error=f"{error_kind.value} upstream" if failed else None,
        usage=None
        if failed
        else Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
        cost_nano=0 if failed else cost_nano,
    )


def record(
    *,
    started_at: float = T0,
    route: str = "chat",
    attempts: list[Attempt] | None = None,
    user: str | None = "alice",
    key_id: str | None = "k1",
    outcome: Outcome | None = None,
    error_kind: ErrorKind | None = None,
    id: str | None = None,
    ttft_ms: float | None = None,
) -> RequestRecord:
    """A request whose totals follow its attempts: it is served by the last one if that
    succeeded, else it failed with the last attempt's error."""
    attempts = [attempt(started_at=started_at)] if attempts is None else attempts
    last = attempts[-1] if attempts else None
    served = last is not None and last.error_kind is None
    if outcome is None:
        outcome = Outcome.ok if served else (Outcome.failed if attempts else Outcome.rejected)
    if error_kind is None and outcome is not Outcome.ok:
        error_kind = last.error_kind if last is not None else ErrorKind.quota
    latency = sum(a.latency_ms + a.backoff_ms for a in attempts)
    cost = sum(a.cost_nano for a in attempts)
    return RequestRecord(
        id=id or f"req-{next(_ids):08d}",
        started_at=started_at,
        ended_at=started_at + latency / 1000,
        route=route,
        requested_route=route,
        user=user,
        key_id=key_id,
        attempts=attempts,
        outcome=outcome,
        error_kind=error_kind,
        status=200 if outcome is Outcome.ok else 502,
        deployment=last.deployment if served and last else None,
        usage=last.usage if served and last else None,
        latency_ms=latency,
        ttft_ms=ttft_ms,
        cost_nano=cost,
        optimal_cost_nano=cost // 2 if cost else None,
        reason="test",
    )
