"""Vendor wire formats the sim speaks: each vendor module turns a request into a `Call`, and an
`Answer` into a JSON body or the SSE frames of a stream, with the vendor's headers, error bodies
and rate-limit headers. The small helpers here are shared with the test fakes (tests/fakes/)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import orjson

# ~one token a piece: short common words and their trailing space
_WORDS = (
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "the",
    "gateway", "routes", "each", "call", "to", "an", "upstream", "that", "answers", "in",
    "its", "own", "wire", "format", "and", "the", "sim", "counts", "every", "one",
)


def approx_tokens(text: str) -> int:
    """~4 characters a token: deterministic, and close enough for usage accounting."""
    return (len(text) + 3) // 4


def text_of(content: Any) -> str:
    """All text in a message's content (a string or a list of parts/blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            text_of(p.get("text") or p.get("content")) for p in content if isinstance(p, dict)
        )
    return ""


def pieces(text: str) -> list[str]:
    """Split text the way streams arrive: a word and its trailing space per delta."""
    return re.findall(r"\S+\s*|\s+", text)


def fragments(s: str, size: int = 8) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: an optional `event:` line and a JSON `data:` line."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"


def seconds_header(s: float) -> str:
    """A retry-after value: whole seconds as `1`, fractions as `0.5`."""
    return f"{s:g}"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The one tool call a simulated answer makes: arguments valid against the tool's schema."""

    name: str
    arguments: str  # JSON text


def tool_of(tools: Any, choice: Any, users_turn: bool) -> ToolCall | None:
    """The call for OpenAI-shaped `tools` and `tool_choice`, chosen as the in-process
    simulated provider chooses (providers/sim_tools.py), or None."""
    from axtui.providers.sim_tools import tool_call_of

    call = tool_call_of(tools, choice, users_turn, "")
    if call is None:
        return None
    return ToolCall(call["function"]["name"], call["function"]["arguments"])


@dataclass(frozen=True, slots=True)
class Call:
    """What a request asks for, read from its vendor's body and path."""

    model: str
    stream: bool
    prompt_tokens: int
    max_tokens: int | None = None
    stream_usage: bool = False  # OpenAI's stream_options.include_usage
    sse: bool = True  # Gemini streams a JSON array without ?alt=sse
    tool: ToolCall | None = None  # the answer is this tool call, not words
    json_text: str | None = None  # the answer is this JSON (a json_schema response format)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the simulated model says: `tokens` pieces of text (one token each)."""

    rid: str
    tokens: tuple[str, ...]
    prompt_tokens: int
    truncated: bool  # cut short by max_tokens
    tool: ToolCall | None = None  # then `tokens` are its arguments' pieces

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def make_answer(call: Call, rid: str, output_tokens: int, offset: int) -> Answer:
    """`output_tokens` words (fewer under max_tokens), starting at word `offset`; or the
    call's tool arguments or JSON, ~4 characters a token, never cut (they must parse)."""
    whole = call.tool.arguments if call.tool is not None else call.json_text
    if whole is not None:
        return Answer(rid, tuple(fragments(whole, 4)), call.prompt_tokens, False, call.tool)
    n = output_tokens if call.max_tokens is None else max(0, min(output_tokens, call.max_tokens))
    words = tuple(_WORDS[(offset + i) % len(_WORDS)] + " " for i in range(n))
    return Answer(rid, words, call.prompt_tokens, n < output_tokens)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A vendor error answer for a request the real API would refuse (400, 404)."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Window:
    """The upstream's request/token budget now, for the rate-limit headers of an answer."""

    limit_requests: int
    remaining_requests: int
    reset_requests_s: float
    limit_tokens: int
    remaining_tokens: int
    reset_tokens_s: float


class Wire(ABC):
    """One vendor's wire format."""

    name: str = ""
    json_type = "application/json"
    sse_type = "text/event-stream; charset=utf-8"
    # frames before the first token's (role, message start, ...): they go with it, as the
    # frames after the last token's do; only tokens are paced (the vendors send them so)
    leading_frames = 0

    @abstractmethod
    def read(self, method: str, path: str, query: dict[str, str],
             headers: dict[str, str], body: Any) -> Call | Refusal:
        """The call this request makes (path relative to the upstream's root), or a refusal."""

    @abstractmethod
    def body(self, call: Call, answer: Answer) -> bytes:
        """A whole answer's JSON body."""

    @abstractmethod
    def frames(self, call: Call, answer: Answer) -> list[bytes]:
        """A stream's frames in order; the last one(s) say it ended (cutting them is a cut)."""

    @abstractmethod
    def ok_headers(self, answer: Answer, window: Window | None, now: float) -> dict[str, str]:
        """Headers of a successful answer: request id, and the rate-limit state unless
        `window` is None."""

    @abstractmethod
    def error(self, status: int, request_id: str) -> tuple[dict[str, str], bytes]:
        """An upstream failure (5xx, 4xx) as this vendor sends it: headers and body."""

    @abstractmethod
    def rate_limited(self, *, status: int, retry_after_s: float, remaining: int,
                     reset_s: float | None, limit: int, model: str, now: float,
                     request_id: str) -> tuple[dict[str, str], bytes]:
        """A rate-limit refusal as this vendor sends it: headers and body."""


def wire_for(protocol: str) -> Wire:
    """The Wire of a protocol name (openai, anthropic, gemini, cohere)."""
    from axtui.sim.wire import anthropic, cohere, gemini, openai

    wires: dict[str, type[Wire]] = {
        "openai": openai.OpenAIWire, "anthropic": anthropic.AnthropicWire,
        "gemini": gemini.GeminiWire, "cohere": cohere.CohereWire,
    }
    return wires[protocol]()
