"""Anthropic Messages (`POST /v1/messages`): JSON, typed SSE events ending in `message_stop`,
`anthropic-ratelimit-*` headers (resets as RFC 3339), `{"type": "error", "error": {...}}`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from axtui.sim.wire import (
    Answer,
    Call,
    Refusal,
    ToolCall,
    Window,
    Wire,
    approx_tokens,
    seconds_header,
    sse,
    text_of,
    tool_of,
)

TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_MESSAGES = {500: "Internal server error", 529: "Overloaded", 503: "Service unavailable"}


def error_payload(type: str, message: str, request_id: str = "req_sim") -> dict[str, Any]:
    return {"type": "error", "error": {"type": type, "message": message},
            "request_id": request_id}


def rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def anthropic_ratelimit_headers(
    *,
    now: datetime | None = None,
    limit_requests: int = 50,
    remaining_requests: int = 49,
    reset_requests_in_s: float | None = 1.0,
    limit_tokens: int | None = 40000,
    remaining_tokens: int | None = 39000,
    reset_tokens_in_s: float | None = 1.0,
    retry_after: str | None = None,
) -> dict[str, str]:
    """The anthropic-ratelimit-* headers (a None value leaves its header out)."""
    now = now or datetime.now(UTC)
    h = {
        "anthropic-ratelimit-requests-limit": str(limit_requests),
        "anthropic-ratelimit-requests-remaining": str(remaining_requests),
    }
    if reset_requests_in_s is not None:
        h["anthropic-ratelimit-requests-reset"] = rfc3339(
            now + timedelta(seconds=reset_requests_in_s))
    if limit_tokens is not None:
        h["anthropic-ratelimit-tokens-limit"] = str(limit_tokens)
    if remaining_tokens is not None:
        h["anthropic-ratelimit-tokens-remaining"] = str(remaining_tokens)
    if reset_tokens_in_s is not None:
        h["anthropic-ratelimit-tokens-reset"] = rfc3339(now + timedelta(seconds=reset_tokens_in_s))
    if retry_after is not None:
        h["retry-after"] = retry_after
    return h


class AnthropicWire(Wire):
    leading_frames = 3
    name = "anthropic"

    def read(self, method: str, path: str, query: dict[str, str],
             headers: dict[str, str], body: Any) -> Call | Refusal:
        if method != "POST" or path != "/v1/messages":
            return self._refuse(404, f"Not Found ({method} {path})")
        if "anthropic-version" not in headers:
            return self._refuse(400, "anthropic-version: header is required")
        if not isinstance(body, dict):
            return self._refuse(400, "There was an error parsing the body of your request")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return self._refuse(400, f"{name}: Field required")
        messages = body["messages"]
        if not isinstance(messages, list):
            return self._refuse(400, "messages: Input should be a valid list")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                return self._refuse(400, f"messages.{i}.role: Input should be 'user' or "
                                    "'assistant'")
        tools, choice = body.get("tools"), body.get("tool_choice")
        if tools is not None and not isinstance(tools, list):
            return self._refuse(400, "tools: Input should be a valid list")
        if choice is not None and not isinstance(choice, dict):
            return self._refuse(400, "tool_choice: Input should be a valid dictionary")
        limit = body["max_tokens"]
        prompt = approx_tokens(text_of(body.get("system"))) + sum(
            3 + approx_tokens(text_of(m.get("content"))) for m in messages)
        prompt += approx_tokens(orjson.dumps(tools).decode()) if tools else 0
        return Call(model=str(body["model"]), stream=bool(body.get("stream")),
                    prompt_tokens=prompt, max_tokens=limit if isinstance(limit, int) else None,
                    tool=_tool(tools, choice, messages))

    @staticmethod
    def _refuse(status: int, message: str) -> Refusal:
        return Refusal(status, orjson.dumps(error_payload(TYPE_BY_STATUS[status], message)))

    @staticmethod
    def _usage(answer: Answer, output: int) -> dict[str, int]:
        return {"input_tokens": answer.prompt_tokens, "output_tokens": output,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

    def _message(self, call: Call, answer: Answer) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "text", "text": answer.text}
        if answer.tool is not None:
            block = {"type": "tool_use", "id": f"toolu_{answer.rid}", "name": answer.tool.name,
                     "input": orjson.loads(answer.tool.arguments)}
        return {
            "id": answer.rid, "type": "message", "role": "assistant", "model": call.model,
            "content": [block],
            "stop_reason": ("tool_use" if answer.tool else "max_tokens" if answer.truncated
                            else "end_turn"),
            "stop_sequence": None, "usage": self._usage(answer, len(answer.tokens)),
        }

    def body(self, call: Call, answer: Answer) -> bytes:
        return orjson.dumps(self._message(call, answer))

    def frames(self, call: Call, answer: Answer) -> list[bytes]:
        message = self._message(call, answer)
        start = {**message, "content": [], "stop_reason": None,
                 "usage": self._usage(answer, 1)}
        block: dict[str, Any] = {"type": "text", "text": ""}
        if answer.tool is not None:  # its input arrives as partial JSON deltas
            block = {**message["content"][0], "input": {}}
        out = [
            sse({"type": "message_start", "message": start}, "message_start"),
            sse({"type": "content_block_start", "index": 0, "content_block": block},
                "content_block_start"),
            sse({"type": "ping"}, "ping"),
        ]
        out.extend(sse({"type": "content_block_delta", "index": 0, "delta": _delta(answer, t)},
                       "content_block_delta")
                   for t in answer.tokens)
        out.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        out.append(sse({"type": "message_delta",
                        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                        "usage": {"output_tokens": len(answer.tokens)}}, "message_delta"))
        out.append(sse({"type": "message_stop"}, "message_stop"))
        return out

    def ok_headers(self, answer: Answer, window: Window | None, now: float) -> dict[str, str]:
        if window is None:
            return {"request-id": f"req_{answer.rid}"}
        return {"request-id": f"req_{answer.rid}", **anthropic_ratelimit_headers(
            now=datetime.fromtimestamp(now, UTC),
            limit_requests=window.limit_requests,
            remaining_requests=window.remaining_requests,
            reset_requests_in_s=window.reset_requests_s,
            limit_tokens=window.limit_tokens,
            remaining_tokens=window.remaining_tokens,
            reset_tokens_in_s=window.reset_tokens_s,
        )}

    def error(self, status: int, request_id: str) -> tuple[dict[str, str], bytes]:
        etype = TYPE_BY_STATUS.get(status, "api_error")
        message = _MESSAGES.get(status, f"simulated upstream error ({status})")
        return ({"request-id": request_id},
                orjson.dumps(error_payload(etype, message, request_id)))

    def rate_limited(self, *, status: int, retry_after_s: float, remaining: int,
                     reset_s: float | None, limit: int, model: str, now: float,
                     request_id: str) -> tuple[dict[str, str], bytes]:
        headers = {"request-id": request_id, **anthropic_ratelimit_headers(
            now=datetime.fromtimestamp(now, UTC), limit_requests=limit,
            remaining_requests=remaining, reset_requests_in_s=reset_s,
            limit_tokens=None, remaining_tokens=None, reset_tokens_in_s=None,
            retry_after=seconds_header(retry_after_s),
        )}
        message = (f"This request would exceed your organization's rate limit of {limit} "
                   "requests per minute. For details, refer to: "
                   "https://docs.anthropic.com/en/api/rate-limits.")
        etype = TYPE_BY_STATUS.get(status, "rate_limit_error")
        return headers, orjson.dumps(error_payload(etype, message, request_id))


def _delta(answer: Answer, piece: str) -> dict[str, str]:
    if answer.tool is None:
        return {"type": "text_delta", "text": piece}
    return {"type": "input_json_delta", "partial_json": piece}


_CHOICES = {"any": "required", "none": "none", "auto": "auto"}


def _tool(tools: Any, choice: Any, messages: list[Any]) -> ToolCall | None:
    """Anthropic's tools and tool_choice in OpenAI's shape, chosen as the OpenAI wire does;
    a turn of tool results only is not the user's (the answer then is words)."""
    if not tools:
        return None
    fns = [{"function": {"name": t.get("name"), "parameters": t.get("input_schema")}}
           for t in tools if isinstance(t, dict)]
    kind = (choice or {}).get("type", "auto")
    wanted: Any = _CHOICES.get(kind, "auto")
    if kind == "tool":
        wanted = {"type": "function", "function": {"name": choice.get("name")}}
    last = messages[-1] if messages else {}
    content = last.get("content")
    results_only = isinstance(content, list) and bool(content) and all(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    return tool_of(fns, wanted, last.get("role") == "user" and not results_only)
