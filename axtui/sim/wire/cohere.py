"""Cohere v2 chat (`POST /v2/chat`): JSON, typed SSE events ending in `message-end`,
`{"id", "message"}` error bodies; it sends no request-rate headers on production keys."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from axtui.sim.wire import (
    Answer,
    Call,
    Refusal,
    Window,
    Wire,
    approx_tokens,
    sse,
    text_of,
    tool_of,
)

PREAMBLE_TOKENS = 160  # `tokens.input_tokens` counts Cohere's own preamble; billing does not
TOOL_PLAN = "I will call the tool."  # the words Cohere says before its tool calls
_CHOICES = {"REQUIRED": "required", "NONE": "none"}  # absent: the model decides
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
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            return Refusal(400, error_body("invalid request: tools must be a list"))
        choice = _CHOICES.get(str(body.get("tool_choice", "")).upper(), "auto")
        limit = body.get("max_tokens")
        prompt = sum(3 + approx_tokens(text_of(m.get("content")))
                     for m in messages if isinstance(m, dict))
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        return Call(model=str(body["model"]), stream=bool(body.get("stream")),
                    prompt_tokens=prompt, max_tokens=limit if isinstance(limit, int) else None,
                    tool=tool_of(tools, choice, last.get("role") == "user"))

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
        return "TOOL_CALL" if answer.tool else "MAX_TOKENS" if answer.truncated else "COMPLETE"

    @staticmethod
    def _message(answer: Answer) -> dict[str, Any]:
        if answer.tool is None:
            return {"role": "assistant", "content": [{"type": "text", "text": answer.text}]}
        return {"role": "assistant", "tool_plan": TOOL_PLAN, "tool_calls": [
            {"id": f"{answer.tool.name}_{answer.rid}", "type": "function",
             "function": {"name": answer.tool.name, "arguments": answer.tool.arguments}}]}

    def body(self, call: Call, answer: Answer) -> bytes:
        return orjson.dumps({
            "id": answer.rid,
            "message": self._message(answer),
            "finish_reason": self._finish(answer),
            "usage": self._usage(answer),
        })

    def frames(self, call: Call, answer: Answer) -> list[bytes]:
        start = {"message": {"role": "assistant", "content": [], "tool_plan": "",
                             "tool_calls": [], "citations": []}}  # fmt: skip
        if answer.tool is not None:
            return [event("message-start", {"id": answer.rid, "delta": start}),
                    *self._call_frames(answer), self._end(answer)]
        out = [
            event("message-start", {"id": answer.rid, "delta": start}),
            event("content-start", {"index": 0, "delta": {
                "message": {"content": {"type": "text", "text": ""}}}}),
        ]  # fmt: skip
        out.extend(event("content-delta", {"index": 0, "delta": {
            "message": {"content": {"text": t}}}}) for t in answer.tokens)  # fmt: skip
        out.append(event("content-end", {"index": 0}))
        out.append(self._end(answer))
        return out

    def _end(self, answer: Answer) -> bytes:
        return event("message-end", {"delta": {"finish_reason": self._finish(answer),
                                               "usage": self._usage(answer)}})

    def _call_frames(self, answer: Answer) -> list[bytes]:
        """As Cohere streams a call: its plan, then the call's start (id, name), its
        arguments in pieces, its end."""
        assert answer.tool is not None
        call = self._message(answer)["tool_calls"][0]
        head = {**call, "function": {**call["function"], "arguments": ""}}
        out = [event("tool-plan-delta", {"delta": {"message": {"tool_plan": TOOL_PLAN}}}),
               event("tool-call-start", {"index": 0, "delta": {"message": {"tool_calls": head}}})]
        out.extend(event("tool-call-delta", {"index": 0, "delta": {"message": {"tool_calls": {
            "function": {"arguments": t}}}}}) for t in answer.tokens)
        out.append(event("tool-call-end", {"index": 0}))
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
