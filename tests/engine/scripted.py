"""A provider whose every call follows a script: the engine's tests need exact failures in
exact places (the wire formats are tested against loopback servers in tests/providers)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from axtui.clock import Clock
from axtui.providers.base import ChatChunk, ChatRequest, ChatResponse, Provider, RateLimitInfo
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind, Usage


@dataclass
class Ok:
    text: str = "hello"
    latency_s: float = 0.1
    prompt_tokens: int = 100
    completion_tokens: int = 20
    chunks: int = 3  # for streams
    ratelimit: RateLimitInfo | None = None  # the answer's rate-limit headers


@dataclass
class Fail:
    kind: ErrorKind
    status: int | None = 500
    retry_after_s: float | None = None
    latency_s: float = 0.05
    after_chunks: int = 0  # for streams: fail after this many chunks
    retryable: bool = True
    ratelimit: RateLimitInfo | None = None


class ScriptedProvider(Provider):
    """Pops one step per call from `script[model]` (or `default` when the script is empty;
    a list as `default` is cycled through, one step per call)."""

    protocol = "scripted"

    def __init__(self, name: str, clock: Clock,
                 default: Ok | Fail | list[Ok | Fail] | None = None) -> None:
        super().__init__(name, base_url="scripted://" + name, api_key=None, client=None,
                         clock=clock)
        self.script: dict[str, deque[Ok | Fail]] = {}
        self.default = default or Ok()
        self.calls: list[tuple[str, ChatRequest]] = []
        self.call_times: list[float] = []  # the clock's monotonic time of each call

    def then(self, model: str, *steps: Ok | Fail) -> ScriptedProvider:
        self.script.setdefault(model, deque()).extend(steps)
        return self

    def _next(self, model: str, request: ChatRequest) -> Ok | Fail:
        self.calls.append((model, request))
        self.call_times.append(self.clock.monotonic())
        q = self.script.get(model)
        if q:
            return q.popleft()
        if isinstance(self.default, list):
            return self.default[(len(self.calls) - 1) % len(self.default)]
        return self.default

    def _error(self, step: Fail) -> ProviderError:
        return ProviderError(step.kind, f"scripted {step.kind}", status=step.status,
                             retry_after_s=step.retry_after_s, retryable=step.retryable,
                             ratelimit=step.ratelimit)

    async def complete(self, request: ChatRequest, model: str) -> ChatResponse:
        step = self._next(model, request)
        await self.clock.sleep(step.latency_s)
        if isinstance(step, Fail):
            raise self._error(step)
        return ChatResponse(content=step.text, usage=Usage(
            prompt_tokens=step.prompt_tokens, completion_tokens=step.completion_tokens),
            model=model, ratelimit=step.ratelimit)

    async def stream(self, request: ChatRequest, model: str) -> AsyncIterator[ChatChunk]:
        step = self._next(model, request)
        await self.clock.sleep(step.latency_s)
        if isinstance(step, Fail):
            for i in range(step.after_chunks):
                yield ChatChunk(content=f"part{i} ")
                await self.clock.sleep(0.01)
            raise self._error(step)
        for i in range(step.chunks):
            yield ChatChunk(content=f"{step.text}{i} ")
            await self.clock.sleep(0.01)
        yield ChatChunk(finish_reason="stop", usage=Usage(
            prompt_tokens=step.prompt_tokens, completion_tokens=step.completion_tokens))
