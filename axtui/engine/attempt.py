"""One attempt at one deployment, for plain calls and streams alike: everything the
engine learns from it (headroom, health, breaker) and the Attempt it adds to the record.

An attempt is `Pending` from the moment it is sent until exactly one verdict:
`succeeded`, `failed` or `cancelled`. A plain call reaches its verdict inside `call`; a
stream's attempt stays pending after `open_stream` returns its first chunk, and the
stream gives the verdict when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from axtui.clock import Clock
from axtui.engine.plan import Plan
from axtui.engine.select import DeploymentState
from axtui.providers.base import REQUEST_DEADLINE, ChatChunk, ChatResponse, RateLimitInfo
from axtui.providers.errors import ProviderError
from axtui.records import Attempt, ErrorKind, Usage, trusted

log = logging.getLogger(__name__)
T = TypeVar("T")

CALLER_LEFT = "the caller went away"


class Pending:
    """An attempt sent and not yet judged. Creating one counts it against the
    deployment's headroom (with the tokens it may use) and its in-flight gauge."""

    __slots__ = ("st", "plan", "clock", "started", "t", "tokens")

    def __init__(self, st: DeploymentState, plan: Plan, clock: Clock) -> None:
        self.st, self.plan, self.clock = st, plan, clock
        self.tokens = plan.needs.prompt_tokens + plan.needs.max_tokens
        st.headroom.consume(self.tokens)
        st.health.begin()
        self.started, self.t = clock.now(), clock.monotonic()

    def latency_ms(self) -> float:
        return (self.clock.monotonic() - self.t) * 1000.0

    def succeeded(
        self,
        usage: Usage,
        status: int | None = 200,
        ratelimit: RateLimitInfo | None = None,
        ttft_ms: float | None = None,
        cost_nano: int | None = None,
    ) -> None:
        """`cost_nano`: what the answer cost, when not priced by its tokens (audio)."""
        st = self.st
        latency = (self.clock.monotonic() - self.t) * 1000.0
        health = st.health
        health.end()
        health.record_success(latency, ttft_ms)
        st.breaker.on_success()
        headroom = st.headroom
        if ratelimit is not None:
            headroom.learn(ratelimit)
        elif headroom.learned:
            headroom.answered()
        headroom.adjust(usage.prompt_tokens + usage.completion_tokens - self.tokens)
        spec = st.spec
        self.plan.attempts.append(trusted(Attempt, {
            "deployment": spec.id,
            "started_at": self.started,
            "latency_ms": latency,
            "ttft_ms": ttft_ms,
            "status": status,
            "error_kind": None,
            "error": None,
            "retry_after_s": None,
            "usage": usage,
            "cost_nano": spec.cost_nano(usage.prompt_tokens, usage.completion_tokens,
                                        usage.cached_prompt_tokens, usage.cache_write_tokens)
            if cost_nano is None else cost_nano,
            "backoff_ms": 0.0,
        }))

    def failed(
        self, e: ProviderError, *, ttft_ms: float | None = None, usage: Usage | None = None
    ) -> None:
        """The upstream failed the attempt: before any content (`ttft_ms` None), or a
        stream after some (its status was 200, and what it used is paid for)."""
        st = self.st
        latency = self.latency_ms()
        st.health.end()
        st.health.record_failure(e.kind, latency)
        if e.kind is ErrorKind.rate_limited:
            retry = e.retry_after_s
            if retry is None and e.ratelimit is not None:
                retry = e.ratelimit.retry_after_s
            st.breaker.on_rate_limited(retry)
            st.headroom.cooldown(retry)
        else:
            st.breaker.on_failure(e.kind)
        if e.ratelimit is not None:
            st.headroom.learn(e.ratelimit)
        streamed = ttft_ms is not None
        self.plan.attempts.append(Attempt(
            deployment=st.spec.id, started_at=self.started, latency_ms=latency,
            ttft_ms=ttft_ms, status=200 if streamed else e.status, usage=usage,
            cost_nano=_cost(st, usage), error_kind=e.kind, error=e.message,
            retry_after_s=e.retry_after_s,
        ))

    def cancelled(self, *, ttft_ms: float | None = None, usage: Usage | None = None) -> None:
        """The caller left: no verdict on the deployment (a half-open trial is returned)."""
        st = self.st
        st.health.end()
        st.breaker.release()
        self.plan.attempts.append(Attempt(
            deployment=st.spec.id, started_at=self.started, latency_ms=self.latency_ms(),
            ttft_ms=ttft_ms, status=200 if ttft_ms is not None else None, usage=usage,
            cost_nano=_cost(st, usage), error_kind=ErrorKind.cancelled, error=CALLER_LEFT,
        ))


def _cost(st: DeploymentState, usage: Usage | None) -> int:
    if usage is None:
        return 0
    return st.spec.cost_nano(usage.prompt_tokens, usage.completion_tokens,
                             usage.cached_prompt_tokens, usage.cache_write_tokens)


async def judged(p: Pending, remaining: float, upstream: Callable[[], Awaitable[T]]) -> T:
    """Run one plain upstream call within `remaining` seconds; a failure is recorded on
    `p` (failed, timed out, or cancelled when the caller left) and raised as ProviderError.
    Shared by chat calls and transcriptions."""
    provider = p.st.provider
    try:
        if provider.honours_deadline:  # it bounds itself: no second timer per attempt
            token = REQUEST_DEADLINE.set(p.t + remaining)
            try:
                return await upstream()
            finally:
                REQUEST_DEADLINE.reset(token)
        async with asyncio.timeout(min(remaining, provider.timeouts.total)):
            return await upstream()
    except ProviderError as e:
        p.failed(e)
        raise
    except TimeoutError:
        e = ProviderError(ErrorKind.timeout, "no answer within the deadline")
        p.failed(e)
        raise e from None
    except asyncio.CancelledError:  # the caller left mid-call: the attempt is recorded
        p.cancelled()
        raise


async def call(st: DeploymentState, remaining: float, plan: Plan, clock: Clock) -> ChatResponse:
    """One plain attempt, judged: the answer, or ProviderError once recorded."""
    p = Pending(st, plan, clock)
    resp = await judged(p, remaining, lambda: st.provider.complete(plan.request, st.spec.model))
    if not resp.usage_reported:  # estimated as for a stream without usage, and said so
        text = (resp.content or "") + "".join(
            (c.get("function") or {}).get("arguments") or "" for c in resp.tool_calls)
        resp.usage = Usage(prompt_tokens=plan.needs.prompt_tokens,
                           completion_tokens=(len(text) + 3) // 4)
        plan.reason += "; usage estimated"
    p.succeeded(resp.usage, resp.status, resp.ratelimit)
    return resp


class Opened:
    """A stream whose first chunk has arrived; its attempt is still pending."""

    __slots__ = ("pending", "upstream", "first")

    def __init__(self, pending: Pending, upstream: AsyncIterator[ChatChunk],
                 first: ChatChunk) -> None:
        self.pending, self.upstream, self.first = pending, upstream, first


async def open_stream(st: DeploymentState, remaining: float, plan: Plan, clock: Clock) -> Opened:
    """Start a stream and wait for its first chunk; a failure before it is judged here
    and raised as ProviderError."""
    p = Pending(st, plan, clock)
    upstream = st.provider.stream(plan.request, st.spec.model)
    try:
        async with asyncio.timeout(min(remaining, st.provider.timeouts.total)):
            first = await anext(upstream)
    except (ProviderError, TimeoutError, StopAsyncIteration) as exc:
        await aclose_quietly(upstream)
        e = as_provider_error(exc)
        p.failed(e)
        raise e from None
    except asyncio.CancelledError:
        await aclose_quietly(upstream)
        p.cancelled()
        raise
    if first.ratelimit is not None:
        st.headroom.learn(first.ratelimit)
    return Opened(p, upstream, first)


def as_provider_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderError(ErrorKind.timeout, "no first chunk within the deadline")
    return ProviderError(ErrorKind.malformed, "stream ended before any chunk")


async def aclose_quietly(it: AsyncIterator[ChatChunk] | None) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        try:
            await close()
        except ProviderError as e:  # closing a failed upstream may re-raise its error
            log.debug("upstream close: %s", e)
