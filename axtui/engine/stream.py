"""Streaming requests: fail over until the first chunk reaches the caller; after that a
failure ends the stream (outcome `interrupted`) and a caller leaving ends it `cancelled`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from axtui.engine.engine import (
    RequestContext,
    RoutingError,
    _aclose,
    _as_provider_error,
    _Plan,
)
from axtui.engine.select import DeploymentState
from axtui.providers.base import ChatChunk, ChatRequest, ProviderError
from axtui.records import Attempt, ErrorKind, Outcome, RequestRecord, Usage

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
        self._plan: _Plan | None = None
        self._st: DeploymentState | None = None
        self._upstream: AsyncIterator[ChatChunk] | None = None
        self._first: ChatChunk | None = None
        self._started_at = 0.0
        self._t = 0.0
        self._counted = False
        self._gen: AsyncIterator[ChatChunk] | None = None

    async def start(self) -> None:
        eng = self.engine
        plan = self._plan = eng._plan(self.request, self.ctx)
        eng.in_flight += 1
        self._counted = True
        try:
            rejection = eng._admit(plan)
            if rejection is not None:
                raise eng._fail(plan, *rejection)
            await self._first_chunk(plan)
        except RoutingError as e:
            self.record = e.record
            self._done()
            raise
        except asyncio.CancelledError:
            self.record = eng._finish(plan, Outcome.cancelled, None, None, ErrorKind.cancelled,
                                      "the caller went away", None)
            self._done()
            raise
        self.deployment = self._st.spec.id if self._st else None
        self.route = plan.route
        self.attempts = len(plan.attempts) + 1

    async def _first_chunk(self, plan: _Plan) -> None:
        """Fail over (the engine's loop) until some deployment's stream yields a chunk."""
        eng = self.engine

        async def start(st: DeploymentState, remaining: float, plan: _Plan):
            st.headroom.consume(plan.needs.prompt_tokens + plan.needs.max_tokens)
            st.health.begin()
            self._started_at, self._t = eng.clock.now(), eng.clock.monotonic()
            upstream = st.provider.stream(plan.request, st.spec.model)
            try:
                async with asyncio.timeout(min(remaining, st.provider.timeouts.total)):
                    first = await anext(upstream)
            except (ProviderError, TimeoutError, StopAsyncIteration) as exc:
                await _aclose(upstream)
                e = _as_provider_error(exc)
                eng._attempt_failed(st, plan, e, self._started_at, self._t)
                raise e from None
            except asyncio.CancelledError:
                await _aclose(upstream)
                st.health.end()
                st.breaker.release()
                raise
            if first.ratelimit is not None:
                st.headroom.learn(first.ratelimit)
            return upstream, first

        st, (upstream, first) = await eng._walk(plan, start)
        self._st, self._upstream, self._first = st, upstream, first

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        self._gen = self._iterate()
        return self._gen

    async def _iterate(self) -> AsyncIterator[ChatChunk]:
        if self._plan is None:
            await self.start()
        eng, plan, st = self.engine, self._plan, self._st
        assert plan is not None and st is not None and self._upstream is not None
        ttft = (eng.clock.monotonic() - self._t) * 1000.0
        usage: Usage | None = None
        completion_chars = 0
        finished = False
        try:
            chunk = self._first
            self._first = None
            while True:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.content:
                    completion_chars += len(chunk.content)
                yield chunk
                try:
                    chunk = await anext(self._upstream)
                except StopAsyncIteration:
                    break
            finished = True
        except ProviderError as e:
            self._end_attempt(st, plan, usage, ttft, e)
            self.record = eng._finish(
                plan, Outcome.interrupted, st, usage, ErrorKind.interrupted,
                f"{st.spec.id}: stream failed after first chunk: {e.kind} {e.message}", ttft)
            raise RoutingError(self.record) from None
        finally:
            if not finished and self.record is None:
                # the consumer stopped early (disconnect or cancellation)
                await _aclose(self._upstream)
                self._end_attempt(st, plan, usage, ttft,
                                  ProviderError(ErrorKind.cancelled, "the caller went away"))
                self.record = eng._finish(plan, Outcome.cancelled, st, usage,
                                          ErrorKind.cancelled, "the caller went away", ttft)
            self._done()
        if usage is None:  # the upstream reported none: estimate, and say so in the reason
            usage = Usage(prompt_tokens=plan.needs.prompt_tokens,
                          completion_tokens=(completion_chars + 3) // 4)
            plan.reason += "; usage estimated"
        self._end_attempt(st, plan, usage, ttft, None)
        self.record = eng._succeed(plan, st, usage, ttft)

    def _end_attempt(
        self, st: DeploymentState, plan: _Plan, usage: Usage | None, ttft: float,
        err: ProviderError | None,
    ) -> None:
        eng = self.engine
        latency = (eng.clock.monotonic() - self._t) * 1000.0
        st.health.end()
        cost = st.spec.cost_nano(usage.prompt_tokens, usage.completion_tokens,
                                 usage.cached_prompt_tokens) if usage else 0
        if err is None:
            st.health.record_success(latency, ttft)
            st.breaker.on_success()
        elif err.kind is ErrorKind.cancelled:
            st.breaker.release()
        else:
            st.health.record_failure(err.kind, latency)
            st.breaker.on_failure(err.kind)
        plan.attempts.append(Attempt(
            deployment=st.spec.id, started_at=self._started_at, latency_ms=latency,
            ttft_ms=ttft, status=200, usage=usage, cost_nano=cost,
            error_kind=err.kind if err else None, error=err.message if err else None,
        ))

    def _done(self) -> None:
        if self._counted:
            self.engine.in_flight -= 1
            self._counted = False

    async def aclose(self) -> None:
        """Abandon the stream (e.g. the client disconnected before iterating)."""
        if self._gen is not None:
            await self._gen.aclose()  # runs its clean-up if iteration had begun
        if self.record is None and self._plan is not None and self._st is not None:
            await _aclose(self._upstream)
            self._end_attempt(self._st, self._plan, None, 0.0,
                              ProviderError(ErrorKind.cancelled, "the caller went away"))
            self.record = self.engine._finish(
                self._plan, Outcome.cancelled, self._st, None, ErrorKind.cancelled,
                "the caller went away", None)
            self._done()
