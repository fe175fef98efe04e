"""Cohere v2 chat (`POST /v2/chat`): JSON, typed SSE events ending in `message-end`,
`{"id", "message"}` error bodies; it sends no request-rate headers on production keys."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from axtui.sim.wire import Answer, Call, Refusal, Window, Wire, approx_tokens, sse, text_of

PREAMBLE_TOKENS = 160  # `tokens.input_tokens` counts Cohere's own preamble; billing does not
_MESSAGES = {500: "internal server error", 503: "service unavailable, please try again later"}


def error_body(message: str, *, with_id: bool = True) -> bytes:
    """v2's `{"id", "message"}`; older endpoints send only `message`."""
    body = {"id": str(uuid.uuid4()), "message": message} if with_id else {"message": message}
    return orjson.dumps(body)


def event(kind: str, data: dict[str, Any]) -> bytes:
    return sse({"type": kind, **data}, event=kind)


class CohereWire(Wire):
    leading_frames = 2
    name = "cohere"

    def read(self, method: str, path: str, query: dict[str, str],
             headers: dict[str, str], body: Any) -> Call | Refusal:
        if method != "POST" or path != "/v2/chat":
            return Refusal(404, error_body(f"{method} {path} not found"))
        if not isinstance(body, dict):
            return Refusal(400, error_body("invalid request: could not parse request body"))
        if not body.get("model"):
            return Refusal(400, error_body("invalid request: model must be specified"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return Refusal(400, error_body("invalid request: messages must not be empty"))
        limit = body.get("max_tokens")
        prompt = sum(3 + approx_tokens(text_of(m.get("content")))
                     for m in messages if isinstance(m, dict))
        return Call(model=str(body["model"]), stream=bool(body.get("stream")),
                    prompt_tokens=prompt, max_tokens=limit if isinstance(limit, int) else None)

    @staticmethod
    def _usage(answer: Answer) -> dict[str, Any]:
        out = len(answer.tokens)
        return {
            "billed_units": {"input_tokens": answer.prompt_tokens, "output_tokens": out},
            "tokens": {"input_tokens": answer.prompt_tokens + PREAMBLE_TOKENS,
                       "output_tokens": out},
            "cached_tokens": 0,
        }

    @staticmethod
    def _finish(answer: Answer) -> str:
        return "MAX_TOKENS" if answer.truncated else "COMPLETE"

    def body(self, call: Call, answer: Answer) -> bytes:
        return orjson.dumps({
            "id": answer.rid,
            "message": {"role": "assistant", "content": [{"type": "text", "text": answer.text}]},
            "finish_reason": self._finish(answer),
            "usage": self._usage(answer),
        })

    def frames(self, call: Call, answer: Answer) -> list[bytes]:
        start = {"message": {"role": "assistant", "content": [], "tool_plan": "",
                             "tool_calls": [], "citations": []}}  # fmt: skip
        out = [
            event("message-start", {"id": answer.rid, "delta": start}),
            event("content-start", {"index": 0, "delta": {
                "message": {"content": {"type": "text", "text": ""}}}}),
        ]  # fmt: skip
        out.extend(event("content-delta", {"index": 0, "delta": {
            "message": {"content": {"text": t}}}}) for t in answer.tokens)  # fmt: skip
        out.append(event("content-end", {"index": 0}))
        out.append(event("message-end", {"delta": {"finish_reason": self._finish(answer),
                                                   "usage": self._usage(answer)}}))
        return out

    def ok_headers(self, answer: Answer, window: Window | None, now: float) -> dict[str, str]:
        return {"x-debug-trace-id": answer.rid.replace("-", ""),
                "x-endpoint-monthly-call-limit": "1000"}

    def error(self, status: int, request_id: str) -> tuple[dict[str, str], bytes]:
        message = _MESSAGES.get(status, f"simulated upstream error ({status})")
        return {"x-debug-trace-id": request_id}, error_body(message)

    def rate_limited(self, *, status: int, retry_after_s: float, remaining: int,
                     reset_s: float | None, limit: int, model: str, now: float,
                     request_id: str) -> tuple[dict[str, str], bytes]:
        message = (f"You are past the per minute request limit of {limit}, please wait and "
                   "try again later.")
        return {"x-debug-trace-id": request_id}, error_body(message)
