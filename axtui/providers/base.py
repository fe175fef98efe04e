"""What every provider adapter shares: the normalized request/response types, rate-limit
header parsing, and the `Provider` contract. The error taxonomy is in `errors`, the HTTP
machinery in `transport`.

The lingua franca is OpenAI's chat shape: messages, tools and tool calls look like OpenAI's
everywhere inside axtui, and each adapter translates to and from its vendor's wire format.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from axtui.clock import Clock
from axtui.records import Usage

if TYPE_CHECKING:
    from axtui.providers.audio import (
        TranscriptEvent,
        TranscriptionRequest,
        TranscriptionResponse,
    )

# --------------------------------------------------------------------------- requests


@dataclass(slots=True)
class ChatRequest:
    """A chat request in OpenAI's shape. `model` is the route the caller asked for;
    adapters are told the upstream model id separately."""

    messages: list[dict[str, Any]]
    model: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    stream: bool = False
    user: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # e.g. selected headers
    # OpenAI's optional parameters beyond the above, by their OpenAI names (seed, logprobs,
    # parallel_tool_calls, reasoning_effort, metadata, ...; see PARAMS): each adapter passes
    # on what its protocol can carry, and the engine skips deployments that cannot honour
    # one that changes the answer's meaning (see `needed_capabilities`).
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RateLimitInfo:
    """Rate-limit signals from one response, normalized. Resets are seconds from now."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None
    retry_after_s: float | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__slots__)


@dataclass(slots=True)
class ChatResponse:
    content: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI shape
    finish_reason: str | None = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str = ""  # as the upstream reported it
    id: str = ""
    status: int = 200
    ratelimit: RateLimitInfo | None = None
    refusal: str | None = None  # the model declined (OpenAI's `message.refusal`)
    logprobs: dict[str, Any] | None = None  # OpenAI's `choices[0].logprobs`, when asked for
    usage_reported: bool = True  # False: the upstream sent none; the engine estimates it
    # which of the request's stop sequences ended the answer, when the upstream says so
    # (Anthropic does; OpenAI's finish_reason "stop" does not tell)
    stop_sequence: str | None = None


@dataclass(slots=True)
class ChatChunk:
    """One piece of a stream. Tool-call deltas are in OpenAI's delta shape (with `index`).
    The final chunk carries `finish_reason` and, when the upstream reported it, `usage`.
    The first chunk carries the response's `ratelimit` signals."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    ratelimit: RateLimitInfo | None = None
    refusal: str | None = None  # a piece of `delta.refusal`
    logprobs: dict[str, Any] | None = None  # this chunk's `choices[0].logprobs`
    stop_sequence: str | None = None  # with the final chunk: as ChatResponse.stop_sequence


# --------------------------------------------------------------------------- secrets

_SECRETISH = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{10,}|gsk_[A-Za-z0-9]{6,}|"
    r"(?i:bearer)\s+[A-Za-z0-9._\-]{8,}|key=[A-Za-z0-9._\-]{8,})"
)


def redact(text: str, secrets: Iterable[str | None] = (), limit: int = 300) -> str:
    """Remove secrets (known values and key-shaped strings) and cap the length."""
    for s in secrets:
        if s:
            text = text.replace(s, "[redacted]")
    text = _SECRETISH.sub("[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- rate-limit headers

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str) -> float | None:
    """`6m0s`, `1h2m3.5s`, `120ms`, `20s`, or a bare number of seconds → seconds."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(value):
        if m.start() != pos:
            return None
        n, unit = float(m.group(1)), m.group(2)
        total += n * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        pos = m.end()
    return total if pos == len(value) and pos > 0 else None


def parse_retry_after(headers: httpx.Headers | dict[str, str], now: float) -> float | None:
    """`retry-after-ms`, then `retry-after` (seconds or an HTTP date) → seconds from now."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(ra).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def _int(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        return int(float(v))
    except ValueError:
        return None


def _rfc3339_from_now(v: str | None, now: float) -> float | None:
    if not v:
        return None
    try:
        return max(0.0, datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() - now)
    except ValueError:
        return parse_duration(v)


def parse_openai_ratelimit(headers: httpx.Headers | dict[str, str], now: float) -> RateLimitInfo:
    """OpenAI / Groq / Mistral style: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`;
    resets are durations like `6m0s` or `1.5s`."""
    g = headers.get
    reset_r, reset_t = g("x-ratelimit-reset-requests"), g("x-ratelimit-reset-tokens")
    return RateLimitInfo(
        limit_requests=_int(g("x-ratelimit-limit-requests")),
        remaining_requests=_int(g("x-ratelimit-remaining-requests")),
        reset_requests_s=parse_duration(reset_r) if reset_r else None,
        limit_tokens=_int(g("x-ratelimit-limit-tokens")),
        remaining_tokens=_int(g("x-ratelimit-remaining-tokens")),
        reset_tokens_s=parse_duration(reset_t) if reset_t else None,
        retry_after_s=parse_retry_after(headers, now),
    )


def parse_anthropic_ratelimit(
    headers: httpx.Headers | dict[str, str], now: float
) -> RateLimitInfo:
    """Anthropic: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, resets
    in RFC 3339."""
    g = headers.get
    return RateLimitInfo(
        limit_requests=_int(g("anthropic-ratelimit-requests-limit")),
        remaining_requests=_int(g("anthropic-ratelimit-requests-remaining")),
        reset_requests_s=_rfc3339_from_now(g("anthropic-ratelimit-requests-reset"), now),
        limit_tokens=_int(g("anthropic-ratelimit-tokens-limit")),
        remaining_tokens=_int(g("anthropic-ratelimit-tokens-remaining")),
        reset_tokens_s=_rfc3339_from_now(g("anthropic-ratelimit-tokens-reset"), now),
        retry_after_s=parse_retry_after(headers, now),
    )


def retry_after(rl: RateLimitInfo) -> float | None:
    """`retry-after` when given, else the reset of whichever limit is exhausted."""
    if rl.retry_after_s is not None:
        return rl.retry_after_s
    resets = [
        reset
        for remaining, reset in (
            (rl.remaining_requests, rl.reset_requests_s),
            (rl.remaining_tokens, rl.reset_tokens_s),
        )
        if remaining == 0 and reset is not None
    ]
    return max(resets) if resets else None


def or_none(rl: RateLimitInfo) -> RateLimitInfo | None:
    return None if rl.is_empty() else rl


# --------------------------------------------------------------------------- the adapter


@dataclass(slots=True, frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 60.0  # between bytes
    total: float = 120.0  # whole call; the engine also enforces the request deadline


# The request's deadline on the loop's clock (`clock.monotonic()`), set by the engine around
# each non-streaming attempt. An adapter that bounds its own call by it says so with
# `honours_deadline = True`, and the engine then adds no timer of its own (one timer per
# attempt instead of two: measured ~10 µs a request on the engine path).
REQUEST_DEADLINE: ContextVar[float | None] = ContextVar("axtui_request_deadline", default=None)


class Provider(ABC):
    """One account at a vendor, speaking one wire protocol."""

    protocol: str = ""
    honours_deadline: bool = False  # complete() ends by REQUEST_DEADLINE (see above)

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient | None,
        clock: Clock,
        timeouts: Timeouts = Timeouts(),
        headers: dict[str, str] | None = None,
        api_version: str | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.client = client
        self.clock = clock
        self.timeouts = timeouts
        self.extra_headers = dict(headers or {})
        self.api_version = api_version  # the wire's version; None: the adapter's default
        # model -> (most output tokens, context window), from the catalog (set by the engine)
        self.output_limits: dict[str, tuple[int, int]] = {}

    def redact(self, text: str) -> str:
        return redact(text, (self._api_key,))

    def http_timeout(self) -> httpx.Timeout:
        t = self.timeouts
        return httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect)

    @abstractmethod
    async def complete(self, request: ChatRequest, model: str) -> ChatResponse:
        """One non-streaming call. Raises ProviderError."""

    @abstractmethod
    def stream(self, request: ChatRequest, model: str) -> AsyncIterator[ChatChunk]:
        """A streaming call as an async iterator of chunks. Raises ProviderError, either
        before the first chunk or mid-stream."""

    async def transcribe(self, request: TranscriptionRequest, model: str
                         ) -> TranscriptionResponse:
        """One transcription, for adapters whose protocol has one. Raises ProviderError."""
        from axtui.providers.errors import ProviderError
        from axtui.records import ErrorKind

        raise ProviderError(ErrorKind.bad_request,
                            f"protocol {self.protocol or self.name} has no transcription")

    def transcribe_stream(self, request: TranscriptionRequest, model: str
                          ) -> AsyncIterator[TranscriptEvent]:
        """A streamed transcription: its events, the last one `transcript.text.done`.
        Raises ProviderError before the first event or mid-stream."""
        from axtui.providers.errors import ProviderError
        from axtui.records import ErrorKind

        raise ProviderError(ErrorKind.bad_request,
                            f"protocol {self.protocol or self.name} has no transcription")

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release anything the adapter holds beyond the shared client."""
