"""OpenAI chat completions (`POST /v1/chat/completions`): JSON, SSE ending in `data: [DONE]`,
`x-ratelimit-*` headers, `{"error": {message, type, param, code}}` bodies."""

from __future__ import annotations

import time
from typing import Any

import orjson

from axtui.providers.sim_tools import schema_text
from axtui.sim.wire import (
    Answer,
    Call,
    Refusal,
    Window,
    Wire,
    approx_tokens,
    seconds_header,
    sse,
    text_of,
    tool_of,
)

PATHS = ("/v1/chat/completions", "/chat/completions")  # base_url with or without /v1
_ERRORS = {
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error"),
    502: ("Bad gateway.", "server_error"),
    503: ("The server is overloaded or not ready yet.", "server_error"),
    504: ("Gateway timeout.", "server_error"),
}


def error_body(message: str, type: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": param,
                                   "code": code}})


def duration(s: float) -> str:
    """OpenAI's reset format: `120ms`, `1s`, `6m0s`."""
    if s < 1:
        return f"{max(0, round(s * 1000))}ms"
    if s < 60:
        return f"{s:.3g}s"
    return f"{int(s // 60)}m{int(s % 60)}s"


def openai_ratelimit_headers(
    *,
    limit_requests: int = 500,
    remaining_requests: int = 499,
    reset_requests: str | None = "120ms",
    limit_tokens: int | None = 30000,
    remaining_tokens: int | None = 29000,
    reset_tokens: str | None = "2s",
    retry_after: str | None = None,
) -> dict[str, str]:
    """The x-ratelimit-* headers (a None value leaves its header out)."""
    h = {
        "x-ratelimit-limit-requests": str(limit_requests),
        "x-ratelimit-remaining-requests": str(remaining_requests),
    }
    if reset_requests is not None:
        h["x-ratelimit-reset-requests"] = reset_requests
    if limit_tokens is not None:
        h["x-ratelimit-limit-tokens"] = str(limit_tokens)
    if remaining_tokens is not None:
        h["x-ratelimit-remaining-tokens"] = str(remaining_tokens)
    if reset_tokens is not None:
        h["x-ratelimit-reset-tokens"] = reset_tokens
    if retry_after is not None:
        h["retry-after"] = retry_after
    return h


class OpenAIWire(Wire):
    leading_frames = 1
    name = "openai"

    def read(self, method: str, path: str, query: dict[str, str],
             headers: dict[str, str], body: Any) -> Call | Refusal:
        if method != "POST" or path not in PATHS:
            return Refusal(404, error_body(f"Invalid URL ({method} {path})"))
        if not isinstance(body, dict):
            return Refusal(400, error_body("We could not parse the JSON body of your request."))
        if not isinstance(body.get("model"), str) or not body["model"]:
            return Refusal(400, error_body("you must provide a model parameter"))
        messages = body.get("messages")
        if not isinstance(messages, list):
            return Refusal(400, error_body("Missing required parameter: 'messages'.",
                                           code="missing_required_parameter",
                                           param="messages"))
        tools, choice = body.get("tools"), body.get("tool_choice")
        if tools is not None and not isinstance(tools, list):
            return Refusal(400, error_body("Invalid type for 'tools': expected an array.",
                                           param="tools"))
        if choice is not None and not tools:
            return Refusal(400, error_body("Invalid value for 'tool_choice': 'tool_choice' is "
                                           "only allowed when 'tools' are specified.",
                                           param="tool_choice"))
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        prompt = sum(3 + approx_tokens(text_of(m.get("content")))
                     for m in messages if isinstance(m, dict))
        prompt += approx_tokens(orjson.dumps(tools).decode()) if tools else 0
        options = body.get("stream_options")
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        return Call(
            model=body["model"],
            stream=bool(body.get("stream")),
            prompt_tokens=prompt,
            max_tokens=limit if isinstance(limit, int) else None,
            stream_usage=isinstance(options, dict) and bool(options.get("include_usage")),
            tool=tool_of(tools, choice, last.get("role") == "user"),
            json_text=schema_text(body.get("response_format")),
        )

    @staticmethod
    def _usage(answer: Answer) -> dict[str, Any]:
        completion = len(answer.tokens)
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": answer.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    @staticmethod
    def _finish(answer: Answer) -> str:
        return "tool_calls" if answer.tool else "length" if answer.truncated else "stop"

    @staticmethod
    def _message(answer: Answer) -> dict[str, Any]:
        if answer.tool is None:
            return {"role": "assistant", "content": answer.text, "refusal": None}
        return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"id": f"call_{answer.rid}", "type": "function",
             "function": {"name": answer.tool.name, "arguments": answer.tool.arguments}}]}

    def body(self, call: Call, answer: Answer) -> bytes:
        return orjson.dumps({
            "id": answer.rid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "system_fingerprint": "fp_sim",
            "choices": [{
                "index": 0,
                "message": self._message(answer),
                "logprobs": None,
                "finish_reason": self._finish(answer),
            }],
            "usage": self._usage(answer),
            "service_tier": "default",
        })

    def frames(self, call: Call, answer: Answer) -> list[bytes]:
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": answer.rid, "object": "chat.completion.chunk", "created": created,
                "model": call.model, "system_fingerprint": "fp_sim",
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}],
            }
            if call.stream_usage:
                c["usage"] = None  # as OpenAI sends on every chunk but the last
            return c

        if answer.tool is None:
            out = [sse(chunk({"role": "assistant", "content": ""}))]
            out.extend(sse(chunk({"content": t})) for t in answer.tokens)
        else:  # as OpenAI streams a call: id and name first, then the arguments in pieces
            out = [sse(chunk({"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": f"call_{answer.rid}", "type": "function",
                 "function": {"name": answer.tool.name, "arguments": ""}}]}))]
            out.extend(sse(chunk({"tool_calls": [{"index": 0, "function": {"arguments": t}}]}))
                       for t in answer.tokens)
        out.append(sse(chunk({}, self._finish(answer))))
        if call.stream_usage:
            last = chunk({})
            last["choices"], last["usage"] = [], self._usage(answer)
            out.append(sse(last))
        out.append(b"data: [DONE]\n\n")
        return out

    def ok_headers(self, answer: Answer, window: Window | None, now: float) -> dict[str, str]:
        head = {"x-request-id": f"req_{answer.rid}", "openai-processing-ms": "1"}
        if window is None:
            return head
        return {
            **head,
            **openai_ratelimit_headers(
                limit_requests=window.limit_requests,
                remaining_requests=window.remaining_requests,
                reset_requests=duration(window.reset_requests_s),
                limit_tokens=window.limit_tokens,
                remaining_tokens=window.remaining_tokens,
                reset_tokens=duration(window.reset_tokens_s),
            ),
        }

    def error(self, status: int, request_id: str) -> tuple[dict[str, str], bytes]:
        message, etype = _ERRORS.get(status, (f"simulated upstream error ({status})",
                                              "server_error" if status >= 500
                                              else "invalid_request_error"))
        return {"x-request-id": request_id}, error_body(message, etype)

    def rate_limited(self, *, status: int, retry_after_s: float, remaining: int,
                     reset_s: float | None, limit: int, model: str, now: float,
                     request_id: str) -> tuple[dict[str, str], bytes]:
        headers = {"x-request-id": request_id, **openai_ratelimit_headers(
            limit_requests=limit, remaining_requests=remaining,
            reset_requests=None if reset_s is None else duration(reset_s),
            limit_tokens=None, remaining_tokens=None, reset_tokens=None,
            retry_after=seconds_header(retry_after_s),
        )}
        message = (f"Rate limit reached for {model} in organization org-sim on requests per "
                   f"min (RPM): Limit {limit}, Used {limit - remaining}, Requested 1. Please "
                   f"try again in {seconds_header(retry_after_s)}s.")
        return headers, error_body(message, "requests", "rate_limit_exceeded")
