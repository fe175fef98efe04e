"""A cached answer as bytes (what a backend holds), replayed as a stream's chunks, and
put together again from a stream that reached its end.

A hit's usage is the original answer's, every count of it (prompt, completion, prompt-cache
reads and writes): the tokens the hit saved. It costs 0; its record's optimal cost is the
saving."""

from __future__ import annotations

from typing import Any

import orjson

from axtui.providers.base import ChatChunk, ChatResponse
from axtui.records import Usage

REPLAY_CHARS = 64  # a replayed stream's content arrives in pieces of at most this many


def encode(resp: ChatResponse) -> bytes:
    u = resp.usage
    return orjson.dumps({
        "content": resp.content, "tool_calls": resp.tool_calls,
        "finish_reason": resp.finish_reason, "model": resp.model,
        "usage": [u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens,
                  u.cache_write_tokens],
        "stop_sequence": resp.stop_sequence,
    })


def decode(raw: bytes) -> ChatResponse:
    d = orjson.loads(raw)
    pt, ct, cached, written = (*d["usage"], 0)[:4]  # entries from before writes: 3 counts
    return ChatResponse(content=d["content"], tool_calls=d["tool_calls"],
                        finish_reason=d["finish_reason"], model=d["model"],
                        usage=Usage(prompt_tokens=pt, completion_tokens=ct,
                                    cached_prompt_tokens=cached, cache_write_tokens=written),
                        stop_sequence=d.get("stop_sequence"))  # absent in older entries


def replay(resp: ChatResponse) -> list[ChatChunk]:
    """The chunks a stream of `resp` is made of: its text in pieces, its tool calls in
    OpenAI's delta shape (index, id, name, whole arguments), then the finish and usage."""
    chunks = []
    text = resp.content or ""
    for i in range(0, len(text), REPLAY_CHARS):
        chunks.append(ChatChunk(content=text[i:i + REPLAY_CHARS]))
    if resp.tool_calls:
        chunks.append(ChatChunk(tool_calls=[
            {"index": i, **call} for i, call in enumerate(resp.tool_calls)]))
    chunks.append(ChatChunk(finish_reason=resp.finish_reason or "stop", usage=resp.usage,
                            stop_sequence=resp.stop_sequence))
    return chunks


class StreamCollector:
    """Gathers a stream's chunks into the answer it amounts to (tool-call deltas merged by
    index, arguments concatenated), so a streamed answer can be cached too."""

    __slots__ = ("parts", "calls", "finish_reason", "stop_sequence")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None

    def add(self, chunk: ChatChunk) -> None:
        if chunk.content:
            self.parts.append(chunk.content)
        if chunk.tool_calls:
            for delta in chunk.tool_calls:
                self._call(delta)
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        if chunk.stop_sequence is not None:
            self.stop_sequence = chunk.stop_sequence

    def _call(self, delta: dict[str, Any]) -> None:
        index = delta.get("index", len(self.calls))
        call = self.calls.get(index)
        fn = delta.get("function") or {}
        if call is None:
            call = self.calls[index] = {"id": delta.get("id", ""), "type": "function",
                                        "function": {"name": fn.get("name", ""),
                                                     "arguments": ""}}
        elif delta.get("id"):
            call["id"] = delta["id"]
        if fn.get("name") and not call["function"]["name"]:
            call["function"]["name"] = fn["name"]
        call["function"]["arguments"] += fn.get("arguments") or ""

    def response(self, usage: Usage) -> ChatResponse:
        calls = [self.calls[i] for i in sorted(self.calls)]
        return ChatResponse(content="".join(self.parts) if self.parts or not calls else None,
                            tool_calls=calls, finish_reason=self.finish_reason or "stop",
                            usage=usage, stop_sequence=self.stop_sequence)
