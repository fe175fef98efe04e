"""A fake Cohere v2 chat API (`POST /v2/chat`) on loopback, speaking the real wire format.

    async with CohereUpstream(api_key="k", trial=True) as up:
        provider = CohereProvider("cohere", base_url=up.base_url, ...)
        up.answer("Bonjour.")                       # or tool_calls=[ToolCall(...)]
        up.error(429, TRIAL_MINUTE_LIMIT)           # `{"id", "message"}`, as v2 sends it
        up.cut("a long answer", after_events=3)     # connection closed mid-stream
        up.requests[-1].body["messages"]            # what the adapter sent

Streams are typed events (`event: content-delta` + `data: {"type": ...}`). A trial fake
sends the `x-trial-endpoint-call-*` headers. It refuses what the real API refuses: a
missing or wrong bearer token, no model, unknown roles, a tool message without
`tool_call_id`, a `tool_choice` other than REQUIRED/NONE, OpenAI's `top_p`/`stop` names.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from axtui.sim.wire.cohere import PREAMBLE_TOKENS as _PREAMBLE_TOKENS
from axtui.sim.wire.cohere import error_body
from axtui.sim.wire.cohere import event as _event

from .loopback import (
    Answer,
    LoopbackUpstream,
    ReceivedRequest,
    Reply,
    ToolCall,
    approx_tokens,
    fragments,
    pieces,
    text_of,
)

__all__ = ["TRIAL_MINUTE_LIMIT", "TRIAL_MONTH_LIMIT", "CohereUpstream", "ToolCall", "error_body"]

DEFAULT_REPLY = "Hello from the fake Cohere upstream."
TRIAL_MINUTE_LIMIT = (
    "You are using a Trial key, which is limited to 20 API calls / minute. You can continue to "
    "use the Trial key for free or upgrade to a Production key with higher rate limits at "
    "'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or "
    "email us at support@cohere.com with any questions"
)
TRIAL_MONTH_LIMIT = (
    "You are using a Trial key, which is limited to 1000 API calls / month. You can continue to "
    "use the Trial key for free or upgrade to a Production key with higher rate limits at "
    "'https://dashboard.cohere.com/api-keys'."
)
_ROLES = {"system", "user", "assistant", "tool"}
_REQUEST_FIELDS = {
    "model", "messages", "tools", "strict_tools", "documents", "citation_options",
    "response_format", "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed",
    "frequency_penalty", "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking",
    "stream", "priority",
}  # fmt: skip


class CohereUpstream(LoopbackUpstream):
    routes = frozenset({("POST", "/v2/chat")})

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        reply_text: str = DEFAULT_REPLY,
        api_key: str | None = None,
        trial: bool = False,
        record: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(latency_s=latency_s, record=record, headers=headers)
        self.reply_text = reply_text
        self.api_key = api_key  # when set, requests must carry `Bearer <api_key>`
        self.trial = trial  # trial keys get the per-minute call headers
        self.calls_left = 20

    @property
    def base_url(self) -> str:
        return self.url

    async def __aenter__(self) -> CohereUpstream:
        await self.start()
        return self

    # ---------------------------------------------------------------- scripting

    def error(
        self,
        status: int,
        message: str,
        *,
        with_id: bool = True,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """An error status with Cohere's error body."""
        body = error_body(message, with_id=with_id)
        self.push(Reply(status, dict(headers or {}), body, delay_s=delay_s))

    # ---------------------------------------------------------------- vendor behaviour

    def check(self, rec: ReceivedRequest) -> Reply | None:
        if self.api_key is not None:
            auth = rec.headers.get("authorization", "")
            if not auth:
                return Reply(401, body=error_body("no api key supplied"))
            if auth.split(" ", 1)[-1] != self.api_key or not auth.lower().startswith("bearer "):
                return Reply(401, body=error_body("invalid api token"))
        body = rec.body
        if not isinstance(body, dict):
            return Reply(400, body=error_body("invalid request: could not parse request body"))
        problem = _invalid(body)
        return Reply(400, body=error_body(f"invalid request: {problem}")) if problem else None

    def not_found(self, rec: ReceivedRequest) -> Reply:
        return Reply(404, body=error_body(f"{rec.method} {rec.path} not found"))

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        return Answer(self.reply_text)

    def render(self, ans: Answer, rec: ReceivedRequest) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        rid = str(uuid.uuid4())
        text = ans.text or ""
        calls = [self._tool_call(c) for c in ans.tool_calls]
        plan = "I will call the tools to answer." if calls else ""
        finish = ans.finish_reason or ("TOOL_CALL" if calls else "COMPLETE")
        usage = self._usage(ans, body, text + plan, calls)
        headers = {
            "x-debug-trace-id": rid.replace("-", ""),
            "x-endpoint-monthly-call-limit": "1000",
        }
        if self.trial:
            self.calls_left = max(0, self.calls_left - 1)
            headers |= {"x-trial-endpoint-call-limit": "20",
                        "x-trial-endpoint-call-remaining": str(self.calls_left)}  # fmt: skip
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant"}
            if calls:
                message |= {"tool_plan": plan, "tool_calls": calls}
            else:
                message["content"] = [{"type": "text", "text": text}]
            return Reply(headers=headers, body=orjson.dumps(
                {"id": rid, "message": message, "finish_reason": finish, "usage": usage}))  # fmt: skip
        start = {"message": {"role": "assistant", "content": [], "tool_plan": "",
                             "tool_calls": [], "citations": []}}  # fmt: skip
        frames = [_event("message-start", {"id": rid, "delta": start})]
        if calls:
            for p in pieces(plan):
                frames.append(_event("tool-plan-delta", {"delta": {"message": {"tool_plan": p}}}))
            for i, c in enumerate(calls):
                head = {**c, "function": {"name": c["function"]["name"], "arguments": ""}}
                frames.append(_event("tool-call-start", {
                    "index": i, "delta": {"message": {"tool_calls": head}}}))  # fmt: skip
                for frag in fragments(c["function"]["arguments"]):
                    frames.append(_event("tool-call-delta", {"index": i, "delta": {
                        "message": {"tool_calls": {"function": {"arguments": frag}}}}}))  # fmt: skip
                frames.append(_event("tool-call-end", {"index": i}))
        else:
            frames.append(_event("content-start", {"index": 0, "delta": {
                "message": {"content": {"type": "text", "text": ""}}}}))  # fmt: skip
            for p in pieces(text):
                frames.append(_event("content-delta", {"index": 0, "delta": {
                    "message": {"content": {"text": p}}}}))  # fmt: skip
            frames.append(_event("content-end", {"index": 0}))
        frames.append(_event("message-end", {"delta": {"finish_reason": finish, "usage": usage}}))
        return Reply(headers=headers, events=frames)

    def _tool_call(self, call: ToolCall) -> dict[str, Any]:
        return {
            "id": call.id or f"{call.name}_{self.next_id():012x}",
            "type": "function",
            "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
        }

    @staticmethod
    def _usage(ans: Answer, body: dict[str, Any], text: str, calls: list) -> dict[str, Any]:
        prompt = ans.prompt_tokens
        if prompt is None:
            prompt = sum(3 + approx_tokens(text_of(m.get("content")))
                         for m in body.get("messages") or [] if isinstance(m, dict))  # fmt: skip
        completion = ans.completion_tokens
        if completion is None:
            completion = approx_tokens(text) + sum(
                approx_tokens(c["function"]["arguments"]) + 3 for c in calls)  # fmt: skip
        return {
            "billed_units": {"input_tokens": prompt, "output_tokens": completion},
            "tokens": {"input_tokens": prompt + _PREAMBLE_TOKENS, "output_tokens": completion},
            "cached_tokens": ans.cached_tokens,
        }


def _invalid(body: dict[str, Any]) -> str | None:
    """What the real API would say about this request body, or None."""
    unknown = set(body) - _REQUEST_FIELDS
    if unknown:
        return f"unknown field: parameter {sorted(unknown)[0]} is not a valid field"
    if not body.get("model"):
        return "model must be specified"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must not be empty"
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in _ROLES:
            return f"messages[{i}].role must be one of system, user, assistant, tool"
        if role == "tool" and not m.get("tool_call_id"):
            return f"messages[{i}].tool_call_id is required for tool messages"
        if role == "assistant" and not (m.get("content") or m.get("tool_calls")):
            return f"messages[{i}]: assistant message must have content or tool_calls"
    choice = body.get("tool_choice")
    if choice is not None and choice not in ("REQUIRED", "NONE"):
        return "tool_choice must be one of REQUIRED, NONE"
    if choice == "REQUIRED" and not body.get("tools"):
        return "tool_choice REQUIRED requires tools to be specified"
    return None
