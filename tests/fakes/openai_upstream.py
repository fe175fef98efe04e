"""A fake OpenAI chat-completions upstream on loopback, speaking the real wire format.

    async with OpenAIUpstream(latency_s=0.02) as up:
        provider = OpenAIProvider("openai", base_url=up.base_url, ...)
        up.answer("Paris.")                       # next request: this answer
        up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
        up.error(429, "Rate limit reached", headers=openai_ratelimit_headers(...))
        up.raw(200, b'{"choices": [')             # malformed
        up.cut("a long answer", after_events=2)   # connection closed mid-stream
        ...
        up.requests[-1].headers / .body           # what the adapter sent

With an empty script every request gets the default answer after `latency_s`, with usage
estimated from the request, so it also serves gateway tests and benchmarks.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from axtui.sim.wire.openai import error_body, openai_ratelimit_headers

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

__all__ = ["OpenAIUpstream", "ToolCall", "openai_ratelimit_headers"]

DEFAULT_REPLY = "Hello from the fake upstream. This answer is canned."
_KEYS_URL = "https://platform.openai.com/account/api-keys"


_TYPE_BY_STATUS = {
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
    500: "server_error",
    503: "server_error",
}


class OpenAIUpstream(LoopbackUpstream):
    routes = frozenset({("POST", "/v1/chat/completions")})

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        reply_text: str = DEFAULT_REPLY,
        api_key: str | None = None,
        echo_full_key: bool = False,
        record: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(latency_s=latency_s, record=record, headers=headers)
        self.reply_text = reply_text
        self.api_key = api_key  # when set, requests must carry `Bearer <api_key>`
        self.echo_full_key = echo_full_key  # some compatible servers echo the whole key

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def __aenter__(self) -> OpenAIUpstream:
        await self.start()
        return self

    # ---------------------------------------------------------------- scripting

    def error(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """An error status with OpenAI's error body."""
        etype = type or _TYPE_BY_STATUS.get(status, "invalid_request_error")
        self.push(
            Reply(
                status,
                dict(headers or {}),
                error_body(message, etype, code, param),
                delay_s=delay_s,
            )
        )

    def stream_error(
        self, text: str, message: str, *, type: str = "server_error", code: str | None = None
    ) -> None:
        """A stream that sends some text, then an error event, then ends."""

        def script(rec: ReceivedRequest) -> Reply:
            model = (rec.body or {}).get("model", "")
            frames = [
                sse(self._chunk(f"chatcmpl-{self.next_id()}", model, {"content": p}))
                for p in pieces(text)
            ]
            frames.append(sse(orjson.loads(error_body(message, type, code)), event="error"))
            return Reply(events=frames)

        self.push(script)

    # ---------------------------------------------------------------- vendor behaviour

    def check(self, rec: ReceivedRequest) -> Reply | None:
        if self.api_key is not None:
            auth = rec.headers.get("authorization", "")
            if not auth.startswith("Bearer "):
                return Reply(
                    401,
                    body=error_body(
                        "You didn't provide an API key. You need to provide your API key in an "
                        "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                        f"YOUR_KEY). You can obtain an API key from {_KEYS_URL}."
                    ),
                )
            key = auth.removeprefix("Bearer ")
            if key != self.api_key:
                shown = key if self.echo_full_key else _mask(key)
                return Reply(
                    401,
                    body=error_body(
                        f"Incorrect API key provided: {shown}. You can find your API key at "
                        f"{_KEYS_URL}.",
                        code="invalid_api_key",
                    ),
                )
        body = rec.body
        if not isinstance(body, dict):
            return Reply(400, body=error_body("We could not parse the JSON body of your request."))
        if not body.get("model"):
            return Reply(400, body=error_body("you must provide a model parameter"))
        if not isinstance(body.get("messages"), list):
            return Reply(
                400,
                body=error_body(
                    "Missing required parameter: 'messages'.",
                    code="missing_required_parameter",
                    param="messages",
                ),
            )
        if "stream_options" in body and not body.get("stream"):
            return Reply(
                400,
                body=error_body(
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    param="stream_options",
                ),
            )
        return None

    def not_found(self, rec: ReceivedRequest) -> Reply:
        return Reply(404, body=error_body(f"Invalid URL ({rec.method} {rec.path})", code=None))

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        return Answer(self.reply_text)

    def render(self, ans: Answer, rec: ReceivedRequest) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        model = body.get("model") or "gpt-4o-mini"
        text, finish = ans.text, ans.finish_reason
        max_tokens = body.get("max_tokens")
        if (
            text
            and finish is None
            and isinstance(max_tokens, int)
            and approx_tokens(text) > max_tokens
        ):
            text, finish = text[: max_tokens * 4], "length"
        calls = [self._tool_call(c) for c in ans.tool_calls]
        finish = finish or ("tool_calls" if calls else "stop")
        usage = self._usage(ans, body, text, calls)
        rid = f"chatcmpl-{self.next_id():08d}"
        headers = {"x-request-id": f"req_{rid}", "openai-processing-ms": "1"}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
            if calls:
                message["tool_calls"] = calls
            return Reply(
                headers=headers,
                body=orjson.dumps(
                    {
                        "id": rid,
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "system_fingerprint": "fp_fake",
                        "choices": [
                            {
                                "index": 0,
                                "message": message,
                                "logprobs": None,
                                "finish_reason": finish,
                            }
                        ],
                        "usage": usage,
                        "service_tier": "default",
                    }
                ),
            )
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = [sse(self._chunk(rid, model, {"role": "assistant", "content": ""}, with_usage))]
        for p in pieces(text or ""):
            frames.append(sse(self._chunk(rid, model, {"content": p}, with_usage)))
        for i, c in enumerate(calls):
            head = {
                "index": i,
                "id": c["id"],
                "type": "function",
                "function": {"name": c["function"]["name"], "arguments": ""},
            }
            frames.append(sse(self._chunk(rid, model, {"tool_calls": [head]}, with_usage)))
            for frag in fragments(c["function"]["arguments"]):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": frag}}]}
                frames.append(sse(self._chunk(rid, model, delta, with_usage)))
        frames.append(sse(self._chunk(rid, model, {}, with_usage, finish=finish)))
        if with_usage:
            last = self._chunk(rid, model, {}, with_usage)
            last["choices"], last["usage"] = [], usage
            frames.append(sse(last))
        frames.append(b"data: [DONE]\n\n")
        return Reply(headers=headers, events=frames)

    def _tool_call(self, call: ToolCall) -> dict[str, Any]:
        return {
            "id": call.id or f"call_{self.next_id():06d}",
            "type": "function",
            "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
        }

    @staticmethod
    def _usage(ans: Answer, body: dict[str, Any], text: str | None, calls: list) -> dict:
        prompt = ans.prompt_tokens
        if prompt is None:
            prompt = sum(
                3 + approx_tokens(text_of(m.get("content")))
                for m in body.get("messages") or []
                if isinstance(m, dict)
            )
        completion = ans.completion_tokens
        if completion is None:
            completion = approx_tokens(text or "") + sum(
                approx_tokens(c["function"]["arguments"]) + 3 for c in calls
            )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": ans.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    @staticmethod
    def _chunk(
        rid: str,
        model: str,
        delta: dict[str, Any],
        with_usage: bool = False,
        finish: str | None = None,
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if with_usage:
            chunk["usage"] = None  # as OpenAI sends on every chunk but the last
        return chunk


def _mask(key: str) -> str:
    """OpenAI's echo of a wrong key: its start and its last four characters."""
    return key[:8] + "*" * max(4, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)
