"""A simulated upstream: in-process, seeded, and on the Clock, so the demo, replays and
benchmarks run without a network, and in virtual time hours of traffic take seconds.

Each call draws, in a fixed order, an error roll, a latency factor and an output length
from a `random.Random` seeded with the profile's seed and the provider name (and the
model, for a per-model profile), so a given sequence of calls always plays out alike.

Latency is lognormal, fitted from the profile's p50/p95: mu = ln p50,
sigma = (ln p95 - ln p50) / 1.645, drawn as a factor `f = exp(sigma * z)`.
- A non-streamed answer takes `p50 * f`: the profile's percentiles are those of whole
  calls. A `max_tokens` cap shortens it in proportion to `ttft + tokens / tokens_per_s`.
- A stream sends its first chunk after `ttft * f` (a slow call is slow to start), then
  chunks of ~50 ms of tokens at `tokens_per_s`, then a last chunk with the finish reason
  and usage.
Errors come with the profile's probabilities (or always, inside an outage window), after
the time a real upstream would take to send them. The upstream's own rpm/tpm limits are
sliding windows over the last 60 s, reported on every response like real headers.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

from axtui.clock import Clock
from axtui.config import SimProfile
from axtui.providers.base import (
    REQUEST_DEADLINE,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Provider,
    RateLimitInfo,
    Timeouts,
)
from axtui.providers.errors import ProviderError
from axtui.providers.sim_tools import schema_answer, tool_call_for
from axtui.records import ErrorKind, Usage, trusted

if TYPE_CHECKING:
    from axtui.providers.audio import (
        TranscriptEvent,
        TranscriptionRequest,
        TranscriptionResponse,
    )

_Z95 = 1.6448536269514722  # the standard normal's 95th percentile
_WINDOW_S = 60.0  # the upstream's rate-limit window
_CHUNK_S = 0.05  # virtual time per streamed chunk
_CONNECT_FAIL_S = 0.005  # a refused connection comes back at once
_OUTPUT_SPREAD = 0.25  # output tokens: normal, sd = 25% of the mean
_RETRY_AFTER_S = (0.5, 2.0)  # a random 429 asks for a wait in this range
_PER_MESSAGE = 3  # framing tokens per message
_PER_IMAGE = 765  # what OpenAI charges for a high-detail 1024x1024 image

# About four characters per token, so the sim's own chars/4 count agrees with itself.
_FILLER = (
    "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. ut enim ad minim veniam, quis "
) * 256

_STATUS = {
    ErrorKind.server: 500,
    ErrorKind.overloaded: 529,
    ErrorKind.rate_limited: 429,
    ErrorKind.timeout: None,
    ErrorKind.connect: None,
    ErrorKind.malformed: None,
}
_MESSAGES = {
    ErrorKind.server: "simulated upstream error (500)",
    ErrorKind.overloaded: "simulated upstream overloaded (529)",
    ErrorKind.rate_limited: "simulated upstream rate limit (429)",
    ErrorKind.timeout: "simulated upstream timed out",
    ErrorKind.connect: "could not connect to simulated upstream",
    ErrorKind.malformed: "simulated upstream sent a malformed response",
}
_CAPABILITY_ERRORS = {
    "streaming": "streaming is not supported",
    "tools": "tools are not supported",
    "json": "response_format is not supported",
    "json_schema": "response_format json_schema is not supported",
    "vision": "image input is not supported",
}


def filler_text(tokens: int) -> str:
    """Deterministic text of about `tokens` tokens (4 characters each)."""
    n = tokens * 4
    if n <= len(_FILLER):
        return _FILLER[:n]
    return (_FILLER * (n // len(_FILLER) + 1))[:n]


def _usage(d: _Draw) -> Usage:
    return trusted(Usage, {"prompt_tokens": d.prompt_tokens, "completion_tokens": d.tokens,
                           "cached_prompt_tokens": 0, "cache_write_tokens": 0})


def _prompt_shape(messages: list[dict[str, Any]]) -> tuple[int, bool]:
    """(prompt tokens as the upstream would count them, whether any image is attached)."""
    chars, images = 0, 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text":
                    chars += len(part.get("text") or "")
                elif kind in ("image_url", "input_image", "image"):
                    images += 1
    return chars // 4 + _PER_MESSAGE * len(messages) + _PER_IMAGE * images, images > 0


class _Behaviour:
    """A profile turned into the numbers the hot path needs, with its own random stream."""

    __slots__ = (
        "rng",
        "p50_s",
        "sigma",
        "ttft_s",
        "tokens_per_s",
        "out_mean",
        "errors",
        "error_p",
        "outages",
        "supports",
        "chunk_tokens",
    )

    def __init__(self, profile: SimProfile, seed_key: str) -> None:
        self.rng = random.Random(f"{profile.seed}:{seed_key}")
        self.p50_s = profile.latency_p50_ms / 1000.0
        self.sigma = (math.log(profile.latency_p95_ms) - math.log(profile.latency_p50_ms)) / _Z95
        self.ttft_s = profile.ttft_ms / 1000.0
        self.tokens_per_s = profile.tokens_per_s
        self.out_mean = profile.output_tokens_mean
        cum, errors = 0.0, []
        for name in sorted(profile.errors):  # a fixed order: the same roll, the same kind
            cum += profile.errors[name]
            errors.append((cum, ErrorKind(name)))
        self.errors = tuple(errors)
        self.error_p = cum
        self.outages = tuple((o.start_s, o.end_s, ErrorKind(o.kind)) for o in profile.outages)
        self.supports = frozenset(profile.supports) if profile.supports is not None else None
        self.chunk_tokens = max(1, round(profile.tokens_per_s * _CHUNK_S))

    def gen_s(self, tokens: int) -> float:
        return self.ttft_s + tokens / self.tokens_per_s


class _Draw:
    """What one call will do."""

    __slots__ = (
        "prompt_tokens",
        "has_image",
        "tokens",
        "capped",
        "factor",
        "roll",
        "malformed",
        "rl",
    )

    def __init__(self) -> None:
        self.malformed = False
        self.rl: RateLimitInfo | None = None


class SimProvider(Provider):
    """A simulated provider. `rpm`/`tpm` are the upstream's own limits (None: none);
    `models` gives per-model profiles that replace `profile` for those models."""

    honours_deadline = True  # complete() ends by REQUEST_DEADLINE

    protocol = "sim"

    def __init__(
        self,
        name: str,
        *,
        profile: SimProfile,
        clock: Clock,
        rpm: int | None = None,
        tpm: int | None = None,
        models: dict[str, SimProfile] | None = None,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        super().__init__(
            name,
            base_url="sim://" + name,
            api_key=None,
            client=None,
            clock=clock,
            timeouts=timeouts,
        )
        self.profile = profile
        self.rpm = rpm
        self.tpm = tpm
        self.calls = 0
        self._t0 = clock.monotonic()  # outage windows are relative to creation
        self._default = _Behaviour(profile, name)
        self._models = {m: _Behaviour(p, f"{name}:{m}") for m, p in (models or {}).items()}
        self._requests: deque[float] = deque()  # send times within the window
        self._tokens: deque[tuple[float, int]] = deque()
        self._tokens_used = 0
        self._ids = 0

    # ------------------------------------------------------------------ the calls

    async def complete(self, request: ChatRequest, model: str) -> ChatResponse:
        b = self._models.get(model) or self._default
        d = self._draw(request, b)
        fault = self._fault(request, b, d, streaming=False)
        if fault is not None:
            delay, err = fault
            await self._wait(delay)
            raise err
        latency = b.p50_s * d.factor
        if d.capped:
            latency *= b.gen_s(d.tokens) / b.gen_s(d.capped)
        await self._wait(latency)
        if d.malformed:  # the whole body arrived, then failed to parse
            raise self._error(ErrorKind.malformed, d)
        self._ids += 1
        call = tool_call_for(request, f"call_sim_{self.name}_{self._ids}")
        if call is not None:
            d.tokens, d.capped = _tokens_of(call["function"]["arguments"]), 0
            content = None
        else:
            content = _content(request, d)
        return ChatResponse(
            content=content,
            tool_calls=[call] if call is not None else [],
            finish_reason="tool_calls" if call else "length" if d.capped else "stop",
            usage=_usage(d),
            model=model,
            id=f"sim-{self.name}-{self._ids}",
            ratelimit=d.rl,
        )

    async def transcribe(self, request: TranscriptionRequest, model: str
                         ) -> TranscriptionResponse:
        from axtui.providers.sim_audio import sim_transcribe

        return await sim_transcribe(self, request, model)

    def transcribe_stream(self, request: TranscriptionRequest, model: str
                          ) -> AsyncIterator[TranscriptEvent]:
        from axtui.providers.sim_audio import sim_transcribe_stream

        return sim_transcribe_stream(self, request, model)

    def _wait(self, seconds: float) -> Awaitable[None]:
        """Sleep like the upstream would, but like a client never past the total timeout or
        the request's deadline (see REQUEST_DEADLINE): then the call ends as a timeout.
        Returns the clock's sleep itself (no coroutine frame of its own) when in time."""
        limit, by_deadline = self.timeouts.total, False
        deadline = REQUEST_DEADLINE.get()
        if deadline is not None:
            left = deadline - self.clock.monotonic()
            if left < limit:
                limit, by_deadline = left, True
        if seconds > limit:
            return self._time_out(limit, by_deadline)
        return self.clock.sleep(seconds)

    async def _time_out(self, limit: float, by_deadline: bool) -> None:
        await self.clock.sleep(max(0.0, limit))
        what = "the request's deadline" if by_deadline else f"{self.timeouts.total:g}s"
        raise ProviderError(ErrorKind.timeout, f"no answer within {what}")

    async def stream(self, request: ChatRequest, model: str) -> AsyncIterator[ChatChunk]:
        b = self._models.get(model) or self._default
        d = self._draw(request, b)
        fault = self._fault(request, b, d, streaming=True)
        if fault is not None:
            delay, err = fault
            await self.clock.sleep(delay)
            raise err
        call = tool_call_for(request, f"call_sim_{self.name}_{self._ids + 1}")
        if call is not None:
            async for chunk in self._stream_call(call, b, d):
                yield chunk
            return
        text = _content(request, d)
        step = b.chunk_tokens
        # malformed: the stream breaks half-way, after the caller has seen a first chunk
        break_at = max(1, d.tokens // 2) if d.malformed else d.tokens + 1
        await self.clock.sleep(b.ttft_s * d.factor)
        sent, rl = 0, d.rl
        while sent < d.tokens:
            n = min(step, d.tokens - sent)
            if sent:
                await self.clock.sleep(n / b.tokens_per_s)
            piece = text[sent * 4 : (sent + n) * 4] if sent + n < d.tokens else text[sent * 4 :]
            yield ChatChunk(content=piece, ratelimit=rl)
            sent += n
            rl = None
            if sent >= break_at:
                raise self._error(ErrorKind.malformed, d)
        self._ids += 1
        yield ChatChunk(
            finish_reason="length" if d.capped else "stop",
            usage=_usage(d),
        )

    async def _stream_call(self, call: dict[str, Any], b: _Behaviour,
                           d: _Draw) -> AsyncIterator[ChatChunk]:
        """A tool call as OpenAI streams one: id and name first, then the arguments."""
        arguments = call["function"]["arguments"]
        d.tokens, d.capped = _tokens_of(arguments), 0
        await self.clock.sleep(b.ttft_s * d.factor)
        head = {"index": 0, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}
        yield ChatChunk(tool_calls=[head], ratelimit=d.rl)
        if d.malformed:
            raise self._error(ErrorKind.malformed, d)
        step = b.chunk_tokens * 4
        for at in range(0, len(arguments), step):
            await self.clock.sleep(min(step, len(arguments) - at) / 4 / b.tokens_per_s)
            piece = arguments[at : at + step]
            yield ChatChunk(tool_calls=[{"index": 0, "function": {"arguments": piece}}])
        self._ids += 1
        yield ChatChunk(finish_reason="tool_calls", usage=_usage(d))

    # ------------------------------------------------------------------ one call's plan

    def _draw(self, request: ChatRequest, b: _Behaviour) -> _Draw:
        self.calls += 1
        rng = b.rng
        d = _Draw()
        d.roll = rng.random()
        d.factor = math.exp(b.sigma * rng.gauss(0.0, 1.0))
        tokens = max(1, round(rng.gauss(b.out_mean, b.out_mean * _OUTPUT_SPREAD)))
        d.capped = 0
        cap = request.max_tokens
        if cap is not None and 0 < cap < tokens:
            d.capped, tokens = tokens, cap  # `capped` keeps what it would have said
        d.tokens = tokens
        d.prompt_tokens, d.has_image = _prompt_shape(request.messages)
        return d

    def _fault(
        self, request: ChatRequest, b: _Behaviour, d: _Draw, *, streaming: bool
    ) -> tuple[float, ProviderError] | None:
        """(delay, error) when this call fails before its first byte of content."""
        header_s = b.ttft_s * d.factor  # a real upstream answers errors about this fast
        if b.outages:
            elapsed = self.clock.monotonic() - self._t0
            for start, end, kind in b.outages:
                if start <= elapsed < end:
                    retry = end - elapsed if kind is ErrorKind.rate_limited else None
                    return self._delay(kind, header_s), self._error(kind, d, retry)
        if b.supports is not None:
            missing = _missing_capability(request, b.supports, streaming, d.has_image)
            if missing is not None:
                err = ProviderError(ErrorKind.bad_request, _CAPABILITY_ERRORS[missing], status=400)
                return header_s, err
        if self.rpm is not None or self.tpm is not None:
            retry = self._admit(d.prompt_tokens + d.tokens, d)
            if retry is not None:
                return header_s, self._error(ErrorKind.rate_limited, d, retry)
        if d.roll < b.error_p:
            kind = next(k for cum, k in b.errors if d.roll < cum)
            if kind is ErrorKind.malformed:  # fails later, once the body arrives
                d.malformed = True
            else:
                retry = None
                if kind is ErrorKind.rate_limited:
                    lo, hi = _RETRY_AFTER_S
                    retry = round(lo + (hi - lo) * d.roll / b.error_p, 3)
                return self._delay(kind, header_s), self._error(kind, d, retry)
        return None

    def _delay(self, kind: ErrorKind, header_s: float) -> float:
        if kind is ErrorKind.timeout:
            return self.timeouts.read  # no byte arrives; the client's read timeout fires
        if kind is ErrorKind.connect:
            return _CONNECT_FAIL_S
        return header_s

    def _error(
        self, kind: ErrorKind, d: _Draw, retry_after_s: float | None = None
    ) -> ProviderError:
        rl = d.rl
        if retry_after_s is not None:
            rl = RateLimitInfo() if rl is None else _copy(rl)
            rl.retry_after_s = retry_after_s
        return ProviderError(
            kind, _MESSAGES[kind], status=_STATUS[kind], retry_after_s=retry_after_s, ratelimit=rl
        )

    # ------------------------------------------------------------------ the upstream's limits

    def _admit(self, tokens: int, d: _Draw) -> float | None:
        """Count a request against rpm/tpm, or say how long until it would fit. Leaves
        the headers to report in `d.rl` either way."""
        now = self.clock.monotonic()
        since = now - _WINDOW_S
        reqs, toks = self._requests, self._tokens
        while reqs and reqs[0] <= since:
            reqs.popleft()
        while toks and toks[0][0] <= since:
            self._tokens_used -= toks.popleft()[1]
        retry = 0.0
        if self.rpm is not None and len(reqs) >= self.rpm:
            retry = reqs[len(reqs) - self.rpm] + _WINDOW_S - now
        if self.tpm is not None and self._tokens_used + tokens > self.tpm:
            retry = max(retry, self._tokens_free_in(tokens, now))
        if retry <= 0.0:
            reqs.append(now)
            if self.tpm is not None:
                toks.append((now, tokens))
                self._tokens_used += tokens
        d.rl = self._headers(now)
        return retry if retry > 0.0 else None

    def _tokens_free_in(self, tokens: int, now: float) -> float:
        """Seconds until `tokens` more fit under tpm (the whole window if they never do)."""
        if tokens > (self.tpm or 0):
            return _WINDOW_S
        excess = self._tokens_used + tokens - (self.tpm or 0)
        for t, n in self._tokens:
            excess -= n
            if excess <= 0:
                return t + _WINDOW_S - now
        return _WINDOW_S

    def _headers(self, now: float) -> RateLimitInfo:
        """Limits as a real upstream reports them; a reset is when the oldest counted
        request (or token batch) leaves the window, i.e. when `remaining` next grows."""
        rl = RateLimitInfo()
        if self.rpm is not None:
            rl.limit_requests = self.rpm
            rl.remaining_requests = max(0, self.rpm - len(self._requests))
            rl.reset_requests_s = self._requests[0] + _WINDOW_S - now if self._requests else 0.0
        if self.tpm is not None:
            rl.limit_tokens = self.tpm
            rl.remaining_tokens = max(0, self.tpm - self._tokens_used)
            rl.reset_tokens_s = self._tokens[0][0] + _WINDOW_S - now if self._tokens else 0.0
        return rl


def _missing_capability(
    request: ChatRequest, supports: frozenset[str], streaming: bool, has_image: bool
) -> str | None:
    if streaming and "streaming" not in supports:
        return "streaming"
    if request.tools and "tools" not in supports:
        return "tools"
    fmt = request.response_format
    kind = fmt.get("type", "text") if fmt else "text"
    if kind == "json_object" and "json" not in supports:
        return "json"
    if kind == "json_schema" and "json_schema" not in supports:
        return "json_schema"
    if has_image and "vision" not in supports:
        return "vision"
    return None


def _content(request: ChatRequest, d: _Draw) -> str:
    """The answer's text: JSON following the schema asked for (its length then sets the
    usage), a JSON object for json_object, else filler of the drawn length."""
    tokens = d.tokens
    fmt = request.response_format
    if fmt and fmt.get("type") == "json_schema":
        text = schema_answer(request) or "{}"
        d.tokens, d.capped = _tokens_of(text), 0
        return text
    if fmt and fmt.get("type") == "json_object":
        body = filler_text(max(1, tokens - 4))
        return '{"answer": "' + body + '"}'
    return filler_text(tokens)


def _tokens_of(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def _copy(rl: RateLimitInfo) -> RateLimitInfo:
    return RateLimitInfo(
        rl.limit_requests,
        rl.remaining_requests,
        rl.reset_requests_s,
        rl.limit_tokens,
        rl.remaining_tokens,
        rl.reset_tokens_s,
        rl.retry_after_s,
    )
