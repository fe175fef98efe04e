"""A fake Anthropic Messages API on loopback, speaking the real wire format.

    async with AnthropicUpstream(api_key="k") as up:
        up.answer("Bonjour.")                    # or tool_calls=[ToolCall(...)]
        up.error(529, "Overloaded")              # error type chosen from the status
        up.cut("a long answer", after_events=4)  # connection closed mid-stream
        up.requests[-1].body["system"]           # what the adapter sent

It refuses what the real API refuses (missing or wrong `x-api-key`, missing
`anthropic-version`, no `max_tokens`, a `system` or `tool` role in `messages`), so a test
that passes against it exercises the translation, not just the happy path.
"""

from __future__ import annotations

from typing import Any

import orjson

from axtui.sim.wire.anthropic import TYPE_BY_STATUS, anthropic_ratelimit_headers
from axtui.sim.wire.anthropic import error_payload as _payload

from .loopback import (
    Answer,
    LoopbackUpstream,
    ReceivedRequest,
    Reply,
    ToolCall,
    approx_tokens,
    fragments,
    pieces,
    sse,
    text_of,
)

__all__ = ["AnthropicUpstream", "ToolCall", "anthropic_ratelimit_headers"]

DEFAULT_REPLY = "Hello from the fake Anthropic upstream."
_TYPE_BY_STATUS = TYPE_BY_STATUS


def error_payload(type: str, message: str) -> dict[str, Any]:
    return _payload(type, message, "req_fake")


class AnthropicUpstream(LoopbackUpstream):
    routes = frozenset({("POST", "/v1/messages")})

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        reply_text: str = DEFAULT_REPLY,
        api_key: str | None = None,
        record: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(latency_s=latency_s, record=record, headers=headers)
        self.reply_text = reply_text
        self.api_key = api_key  # when set, requests must carry it in x-api-key

    @property
    def base_url(self) -> str:
        return self.url

    async def __aenter__(self) -> AnthropicUpstream:
        await self.start()
        return self

    # ---------------------------------------------------------------- scripting

    def error(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        etype = type or _TYPE_BY_STATUS.get(status, "api_error")
        self.push(
            Reply(
                status,
                dict(headers or {}),
                orjson.dumps(error_payload(etype, message)),
                delay_s=delay_s,
            )
        )

    def stream_error(self, text: str, message: str, *, type: str = "overloaded_error") -> None:
        """A stream that sends some text, then an `error` event, then ends."""

        def script(rec: ReceivedRequest) -> Reply:
            frames = self.render(Answer(text), rec).events or []
            # keep message_start, the text block's start and its deltas; drop the ending
            frames = [f for f in frames if b"content_block_stop" not in f][: 3 + len(pieces(text))]
            frames.append(sse(error_payload(type, message), event="error"))
            return Reply(events=frames)

        self.push(script)

    # ---------------------------------------------------------------- vendor behaviour

    def _refuse(self, status: int, message: str) -> Reply:
        return Reply(status, body=orjson.dumps(error_payload(_TYPE_BY_STATUS[status], message)))

    def check(self, rec: ReceivedRequest) -> Reply | None:
        if self.api_key is not None:
            key = rec.headers.get("x-api-key")
            if key is None:
                return self._refuse(401, "x-api-key header is required")
            if key != self.api_key:
                return self._refuse(401, "invalid x-api-key")
        if "anthropic-version" not in rec.headers:
            return self._refuse(400, "anthropic-version: header is required")
        body = rec.body
        if not isinstance(body, dict):
            return self._refuse(400, "There was an error parsing the body of your request")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return self._refuse(400, f"{name}: Field required")
        for i, m in enumerate(body["messages"]):
            if m.get("role") not in ("user", "assistant"):
                return self._refuse(
                    400, f"messages.{i}.role: Input should be 'user' or 'assistant'"
                )
        return None

    def not_found(self, rec: ReceivedRequest) -> Reply:
        return self._refuse(404, f"Not Found ({rec.method} {rec.path})")

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        return Answer(self.reply_text)

    def render(self, ans: Answer, rec: ReceivedRequest) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        model = body.get("model") or "claude-3-5-haiku-latest"
        mid = f"msg_{self.next_id():012d}"
        blocks: list[dict[str, Any]] = []
        if ans.text:
            blocks.append({"type": "text", "text": ans.text})
        for c in ans.tool_calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": c.id or f"toolu_{self.next_id():06d}",
                    "name": c.name,
                    "input": c.arguments,
                }
            )
        stop = ans.finish_reason or ("tool_use" if ans.tool_calls else
                                     "stop_sequence" if ans.stop_sequence else "end_turn")
        sequence = ans.stop_sequence if stop == "stop_sequence" else None
        usage = self._usage(ans, body)
        headers = {"request-id": f"req_{mid}"}
        message = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": sequence,
            "usage": usage,
        }
        if not body.get("stream"):
            return Reply(headers=headers, body=orjson.dumps(message))
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        frames = [sse({"type": "message_start", "message": start}, "message_start")]
        for i, block in enumerate(blocks):
            frames.extend(self._block_frames(i, block))
        frames.append(
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": sequence},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
                "message_delta",
            )
        )
        frames.append(sse({"type": "message_stop"}, "message_stop"))
        return Reply(headers=headers, events=frames)

    @staticmethod
    def _block_frames(i: int, block: dict[str, Any]) -> list[bytes]:
        def delta(d: dict[str, Any]) -> bytes:
            return sse(
                {"type": "content_block_delta", "index": i, "delta": d}, "content_block_delta"
            )

        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [delta({"type": "text_delta", "text": p}) for p in pieces(block["text"])]
        else:
            start = {**block, "input": {}}
            args = orjson.dumps(block["input"]).decode()
            deltas = [
                delta({"type": "input_json_delta", "partial_json": p})
                for p in ["", *fragments(args)]
            ]
        return [
            sse(
                {"type": "content_block_start", "index": i, "content_block": start},
                "content_block_start",
            ),
            sse({"type": "ping"}, "ping"),
            *deltas,
            sse({"type": "content_block_stop", "index": i}, "content_block_stop"),
        ]

    @staticmethod
    def _usage(ans: Answer, body: dict[str, Any]) -> dict[str, int]:
        prompt = ans.prompt_tokens
        if prompt is None:
            prompt = approx_tokens(text_of(body.get("system"))) + sum(
                3 + approx_tokens(text_of(m.get("content"))) for m in body.get("messages") or []
            )
        completion = ans.completion_tokens
        if completion is None:
            completion = approx_tokens(ans.text or "") + sum(
                approx_tokens(orjson.dumps(c.arguments).decode()) + 3 for c in ans.tool_calls
            )
        # Anthropic's input_tokens excludes the tokens read from and written to the cache.
        return {
            "input_tokens": max(0, prompt - ans.cached_tokens - ans.cache_write_tokens),
            "output_tokens": completion,
            "cache_creation_input_tokens": ans.cache_write_tokens,
            "cache_read_input_tokens": ans.cached_tokens,
        }
