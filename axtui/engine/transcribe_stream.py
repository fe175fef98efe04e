"""Streamed transcriptions (`stream=true`): as chat streams (stream.py), fail over until the
first event reaches the caller; after it a failure ends the stream `interrupted`, and a
caller leaving ends it `cancelled`. The usage and cost are the done event's, priced as a
whole answer's (transcribe.settle)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from axtui.clock import Clock
from axtui.engine.attempt import Pending, aclose_quietly, as_provider_error
from axtui.engine.outcome import RoutingError
from axtui.engine.plan import Plan, RequestContext
from axtui.engine.select import DeploymentState
from axtui.engine.transcribe import optimal, settle
from axtui.providers.audio import (
    TranscriptEvent,
    TranscriptionRequest,
    TranscriptionResponse,
    read_usage,
)
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind, Outcome, RequestRecord

if TYPE_CHECKING:
    from axtui.engine.transcribe import Transcriptions

log = logging.getLogger(__name__)


class Opened:
    """An upstream stream whose first event has arrived; its attempt is still pending."""

    __slots__ = ("pending", "upstream", "first")

    def __init__(self, pending: Pending, upstream: AsyncIterator[TranscriptEvent],
                 first: TranscriptEvent | None) -> None:
        self.pending, self.upstream, self.first = pending, upstream, first


class TranscriptionStream:
    """`start()` plans, admits and fails over until a first event; iterating yields it and
    the rest. The record is written when the done event has gone (or the stream failed or
    was left)."""

    def __init__(self, tx: Transcriptions, request: TranscriptionRequest,
                 ctx: RequestContext) -> None:
        self.tx, self.request, self.ctx = tx, request, ctx
        self.record: RequestRecord | None = None
        self.deployment: str | None = None
        self.route: str | None = None
        self.attempts = 0
        self._plan: Plan | None = None
        self._opened: Opened | None = None
        self._counted = False
        self._gen: AsyncIterator[TranscriptEvent] | None = None

    async def start(self) -> None:
        eng = self.tx.engine
        plan = self._plan = self.tx.plan(self.request, self.ctx)
        plan.request.stream = True
        self.route = plan.route
        refusal = self.tx.refusal(plan)
        if refusal is not None:
            e = eng.outcomes.fail(plan, *refusal)
            self.record = e.record
            raise e
        eng.in_flight += 1
        self._counted = True
        try:
            st, self._opened = await self.tx.failover.run(plan, _open)
        except RoutingError as e:
            self.record = e.record
            self._done()
            raise
        except asyncio.CancelledError:
            self.record = eng.outcomes.cancelled(plan)
            self._done()
            raise
        self.deployment, self.route = st.spec.id, plan.route
        self.attempts = len(plan.attempts) + 1

    def __aiter__(self) -> AsyncIterator[TranscriptEvent]:
        self._gen = self._iterate()
        return self._gen

    async def _iterate(self) -> AsyncIterator[TranscriptEvent]:
        if self._plan is None:
            await self.start()
        plan, opened = self._plan, self._opened
        assert plan is not None and opened is not None and opened.first is not None
        outcomes = self.tx.engine.outcomes
        pending, upstream, st = opened.pending, opened.upstream, opened.pending.st
        ttft = pending.latency_ms()
        said = TranscriptionResponse(b"", "json")  # what the done event says it used
        finished = False
        try:
            event, opened.first = opened.first, None
            while True:
                if event.done:
                    read_usage(said, event.data.get("usage"))
                yield event
                if event.done:
                    break
                try:
                    event = await anext(upstream)
                except StopAsyncIteration:
                    raise ProviderError(ErrorKind.malformed, "the stream ended before its "
                                        "done event") from None
            finished = True
        except ProviderError as e:
            pending.failed(e, ttft_ms=ttft)
            self.record = outcomes.finish(
                plan, Outcome.interrupted, st, None, ErrorKind.interrupted,
                f"{st.spec.id}: stream failed after first event: {e.kind} {e.message}", ttft)
            raise RoutingError(self.record) from None
        finally:
            if not finished and self.record is None:  # the caller stopped early
                await aclose_quietly(upstream)
                pending.cancelled(ttft_ms=ttft)
                self.record = outcomes.cancelled(plan, st, None, ttft)
            self._done()
        await _end(upstream)
        usage, cost = settle(st, plan, said)
        pending.succeeded(usage, ttft_ms=ttft, cost_nano=cost)
        note = plan.audio
        assert note is not None
        note.optimal_cost_nano = optimal(self.tx.engine.routes[plan.route], note, said)
        self.record = outcomes.finish(plan, Outcome.ok, st, usage, None, None, ttft)

    def _done(self) -> None:
        if self._counted:
            self.tx.engine.in_flight -= 1
            self._counted = False

    async def aclose(self) -> None:
        """Abandon the stream (the client left, perhaps before iterating)."""
        if self._gen is not None:
            await self._gen.aclose()
        if self.record is None and self._plan is not None and self._opened is not None:
            pending = self._opened.pending
            await aclose_quietly(self._opened.upstream)
            pending.cancelled(ttft_ms=0.0)
            self.record = self.tx.engine.outcomes.cancelled(self._plan, pending.st)
            self._done()


async def _open(st: DeploymentState, remaining: float, plan: Plan, clock: Clock) -> Opened:
    """Start the upstream's stream and wait for its first event; a failure before it is
    judged here (the walk then fails over) and raised as ProviderError."""
    note = plan.audio
    assert note is not None
    p = Pending(st, plan, clock)
    upstream: AsyncIterator[TranscriptEvent] | None = None
    try:
        async with asyncio.timeout(min(remaining, st.provider.timeouts.total)):
            upstream = st.provider.transcribe_stream(note.request, st.spec.model)
            first = await anext(upstream)
    except (ProviderError, TimeoutError, StopAsyncIteration) as exc:
        await aclose_quietly(upstream)  # type: ignore[arg-type]
        e = as_provider_error(exc)
        p.failed(e)
        raise e from None
    except asyncio.CancelledError:
        await aclose_quietly(upstream)  # type: ignore[arg-type]
        p.cancelled()
        raise
    if first.ratelimit is not None:
        st.headroom.learn(first.ratelimit)
    return Opened(p, upstream, first)


async def _end(upstream: AsyncIterator[TranscriptEvent]) -> None:
    """Let the upstream's generator finish after its done event (its connection then goes
    back to the pool); one that sends more is closed."""
    try:
        await anext(upstream)
    except StopAsyncIteration:
        return
    except ProviderError as e:  # after the done event the transcript is whole: nothing lost
        log.debug("transcription stream after its done event: %s", e)
        return
    await aclose_quietly(upstream)
