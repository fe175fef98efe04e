"""What makes two requests the same question: the normalized request, hashed.

The exact key covers the route, the caller's scope (its key, unless the route shares), the
messages, the tools, response_format and every sampling parameter the request carries
(every ChatRequest field except how it is delivered and who asked: a parameter added to
ChatRequest later is in the key without a change here). The semantic partition is the same
hash with the last user turn left out: the system prompt, the history, the model (route)
and the parameters must match exactly; only the last user turn is compared by meaning.
"""

from __future__ import annotations

from dataclasses import fields
from hashlib import blake2b
from typing import Any

import orjson

from axtui.providers.base import ChatRequest

# delivery and identity, not the question: a stream and a plain call share answers
NOT_IN_KEY = frozenset({"messages", "model", "stream", "user", "tags", "metadata"})
_PARAMS = tuple(f.name for f in fields(ChatRequest) if f.name not in NOT_IN_KEY)
DEFAULT_TEMPERATURE = 1.0  # what OpenAI and Anthropic sample at when a request sets none
_LAST_TURN = "\x00last user turn\x00"


def params(request: ChatRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in _PARAMS}


def temperature(request: ChatRequest) -> float:
    t = request.temperature
    return DEFAULT_TEMPERATURE if t is None else t


def tool_result_turn(request: ChatRequest) -> bool:
    """The request answers a tool call: its answer depends on a tool's live result."""
    messages = request.messages
    return bool(messages) and messages[-1].get("role") == "tool"


def _content(content: Any) -> Any:
    """A single text part and a plain string say the same."""
    if (isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict)
            and content[0].get("type") == "text" and len(content[0]) == 2):
        return content[0].get("text")
    return content


def _message(m: dict[str, Any]) -> dict[str, Any]:
    if "content" not in m:
        return m
    c = _content(m["content"])
    return m if c is m["content"] else {**m, "content": c}


def _hash(parts: list[Any]) -> str:
    raw = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return blake2b(raw, digest_size=16).hexdigest()


def exact_key(route: str, scope: str, request: ChatRequest) -> str:
    return _hash(["x", route, scope, [_message(m) for m in request.messages], params(request)])


def last_user_text(request: ChatRequest) -> tuple[int, str] | None:
    """The last message's index and text when it is a user turn of text only (an image or
    audio part is compared exactly, never by meaning): what the semantic cache embeds."""
    messages = request.messages
    i = len(messages) - 1
    m = messages[i]
    if m.get("role") != "user":
        return None
    c = _content(m.get("content"))
    if isinstance(c, str):
        return (i, c) if c.strip() else None
    if isinstance(c, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in c):
        text = "\n".join(str(p.get("text", "")) for p in c)
        return (i, text) if text.strip() else None
    return None


def semantic_partition(route: str, scope: str, request: ChatRequest, turn: int) -> str:
    """Everything but the last user turn's text: requests whose partitions match differ at
    most in that turn."""
    messages = [_message(m) for m in request.messages]
    messages[turn] = {**messages[turn], "content": _LAST_TURN}
    return _hash(["s", route, scope, messages, params(request)])
