"""Streaming requests: fail over until the first chunk reaches the caller; after that a
failure ends the stream (outcome `interrupted`) and a caller leaving ends it `cancelled`.
The attempt's bookkeeping is attempt.py's, as for plain calls; this holds the stream's
own state (its one pending attempt, the first chunk, the usage seen)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from axtui.engine.attempt import Opened, aclose_quietly, open_stream
from axtui.engine.outcome import RoutingError
from axtui.engine.plan import Plan, RequestContext
from axtui.providers.base import ChatChunk, ChatRequest
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind, Outcome, RequestRecord, Usage

if TYPE_CHECKING:
    from axtui.engine.engine import Engine


class EngineStream:
    """One streaming request: `start()` fails over until a first chunk, then iteration yields
    it and the rest. After the first chunk a failure ends the stream with RoutingError
    (outcome `interrupted`); the caller leaving ends it as `cancelled`."""

    def __init__(self, engine: Engine, request: ChatRequest, ctx: RequestContext) -> None:
        self.engine = engine
        request.stream = True
        self.request = request
        self.ctx = ctx
        self.record: RequestRecord | None = None
        self.deployment: str | None = None
        self.route: str | None = None
        self.attempts = 0
        self._plan: Plan | None = None
        self._opened: Opened | None = None
        self._counted = False
        self._gen: AsyncIterator[ChatChunk] | None = None

    async def start(self) -> None:
        eng = self.engine
        try:
            plan = self._plan = eng.begin(self.request, self.ctx)
        except RoutingError as e:
            self.record = e.record
            raise
        self._counted = True
        try:
            st, self._opened = await eng.failover.run(plan, open_stream)
        except RoutingError as e:
            self.record = e.record
            self._done()
            raise
        except asyncio.CancelledError:
            self.record = eng.outcomes.cancelled(plan)
            self._done()
            raise
        self.deployment = st.spec.id
        self.route = plan.route
        self.attempts = len(plan.attempts) + 1

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        self._gen = self._iterate()
        return self._gen

    async def _iterate(self) -> AsyncIterator[ChatChunk]:
        if self._plan is None:
            await self.start()
        eng, plan, opened = self.engine, self._plan, self._opened
        assert plan is not None and opened is not None
        pending, upstream, st = opened.pending, opened.upstream, opened.pending.st
        outcomes = eng.outcomes
        ttft = pending.latency_ms()
        usage: Usage | None = None
        completion_chars = 0
        finished = False
        try:
            chunk = opened.first
            opened.first = None
            while True:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.content:
                    completion_chars += len(chunk.content)
                yield chunk
                try:
                    chunk = await anext(upstream)
                except StopAsyncIteration:
                    break
            finished = True
        except ProviderError as e:
            pending.failed(e, ttft_ms=ttft, usage=usage)
            self.record = outcomes.finish(
                plan, Outcome.interrupted, st, usage, ErrorKind.interrupted,
                f"{st.spec.id}: stream failed after first chunk: {e.kind} {e.message}", ttft)
            raise RoutingError(self.record) from None
        finally:
            if not finished and self.record is None:
                # the consumer stopped early (disconnect or cancellation)
                await aclose_quietly(upstream)
                pending.cancelled(ttft_ms=ttft, usage=usage)
                self.record = outcomes.cancelled(plan, st, usage, ttft)
            self._done()
        if usage is None:  # the upstream reported none: estimate, and say so in the reason
            usage = Usage(prompt_tokens=plan.needs.prompt_tokens,
                          completion_tokens=(completion_chars + 3) // 4)
            plan.reason += "; usage estimated"
        pending.succeeded(usage, ttft_ms=ttft)
        self.record = outcomes.succeed(plan, st, usage, ttft)

    def _done(self) -> None:
        if self._counted:
            self.engine.end()
            self._counted = False

    async def aclose(self) -> None:
        """Abandon the stream (e.g. the client disconnected before iterating)."""
        if self._gen is not None:
            await self._gen.aclose()  # runs its clean-up if iteration had begun
        if self.record is None and self._plan is not None and self._opened is not None:
            pending = self._opened.pending
            await aclose_quietly(self._opened.upstream)
            pending.cancelled(ttft_ms=0.0)
            self.record = self.engine.outcomes.cancelled(self._plan, pending.st)
            self._done()
