"""Streaming requests: fail over until the first chunk reaches the caller; after that a
failure ends the stream (outcome `interrupted`) and a caller leaving ends it `cancelled`.
The attempt's bookkeeping is attempt.py's, as for plain calls; this holds the stream's
own state (its one pending attempt, the first chunk, the usage seen)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from axtui.cache.answers import replay
from axtui.engine.attempt import Opened, aclose_quietly, open_stream
from axtui.engine.outcome import RoutingError
from axtui.engine.plan import Plan, RequestContext
from axtui.providers.base import ChatChunk, ChatRequest, ChatResponse
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
        self.cache_hit: ChatResponse | None = None  # served from the response cache

    @property
    def cache(self) -> str | None:
        """exact | semantic when the response cache serves this stream."""
        plan = self._plan
        return plan.cache.hit if plan is not None and plan.cache is not None else None

    async def start(self) -> None:
        eng = self.engine
        try:
            plan = self._plan = eng.begin(self.request, self.ctx)
        except RoutingError as e:
            self.record = e.record
            raise
        self._counted = True
        self.route = plan.route
        try:
            if eng.cache is not None:
                self.cache_hit = await eng.cache.lookup(plan)
                if self.cache_hit is not None:
                    return
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
        self._gen = self._replay() if self.cache_hit is not None else self._iterate()
        return self._gen

    async def _iterate(self) -> AsyncIterator[ChatChunk]:
        if self._plan is None:
            await self.start()
        if self.cache_hit is not None:
            replay = self._replay()
            try:
                async for chunk in replay:
                    yield chunk
            finally:
                await replay.aclose()
            return
        eng, plan, opened = self.engine, self._plan, self._opened
        assert plan is not None and opened is not None
        pending, upstream, st = opened.pending, opened.upstream, opened.pending.st
        outcomes = eng.outcomes
        ttft = pending.latency_ms()
        usage: Usage | None = None
        completion_chars = 0
        finished = False
        collect = eng.cache.collector(plan) if eng.cache is not None else None
        try:
            chunk = opened.first
            opened.first = None
            while True:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.content:
                    completion_chars += len(chunk.content)
                if collect is not None:
                    collect.add(chunk)
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
        if collect is not None and eng.cache is not None:
            await eng.cache.store(plan, collect.response(usage))

    async def _replay(self) -> AsyncIterator[ChatChunk]:
        """A cache hit, as the stream of chunks its answer is made of; the record is
        written once the last chunk has gone (or `cancelled`, if the caller left)."""
        plan, hit = self._plan, self.cache_hit
        assert plan is not None and hit is not None
        try:
            for chunk in replay(hit):
                yield chunk
            self.record = self.engine.outcomes.finish(plan, Outcome.ok, None, hit.usage, None,
                                                      None, None)
        finally:
            if self.record is None:
                self.record = self.engine.outcomes.cancelled(plan, None, hit.usage)
            self._done()

    def _done(self) -> None:
        if self._counted:
            self.engine.end()
            self._counted = False

    async def aclose(self) -> None:
        """Abandon the stream (e.g. the client disconnected before iterating)."""
        if self._gen is not None:
            await self._gen.aclose()  # runs its clean-up if iteration had begun
        if self.record is None and self._plan is not None and self.cache_hit is not None:
            self.record = self.engine.outcomes.cancelled(self._plan, None, self.cache_hit.usage)
            self._done()
        if self.record is None and self._plan is not None and self._opened is not None:
            pending = self._opened.pending
            await aclose_quietly(self._opened.upstream)
            pending.cancelled(ttft_ms=0.0)
            self.record = self.engine.outcomes.cancelled(self._plan, pending.st)
            self._done()
