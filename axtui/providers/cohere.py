"""Cohere's v2 chat API (`POST /v2/chat`, bearer auth).

v2 messages and tools are close to OpenAI's: roles and tool calls map almost one to one;
the differences are the sampling names (`p`, `stop_sequences`), upper-case finish reasons,
`tool_choice` without a named function, and the stream, which is typed events
(`content-delta`, `tool-call-start`/`-delta`, `message-end`) rather than message deltas.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from axtui.providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Provider,
    RateLimitInfo,
    or_none,
    parse_retry_after,
)
from axtui.providers.errors import ProviderError, classify_status
from axtui.providers.params import param
from axtui.providers.transport import EventStream, close_own_client, load_json, post_json
from axtui.records import ErrorKind, Usage

_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
# Finish reasons that are failures, not answers (OpenAI has no "error"): the attempt fails
# and the engine fails over, as for an error status.
_FAILED = {"ERROR": ErrorKind.server, "TIMEOUT": ErrorKind.timeout}
# A trial key's monthly allowance: waiting minutes will not help.
_MONTHLY = re.compile(r"/\s*month|per month|monthly", re.I)


class CohereProvider(Provider):
    honours_deadline = True  # complete() ends by REQUEST_DEADLINE
    protocol = "cohere"

    async def aclose(self) -> None:
        await close_own_client(self)

    def headers(self, *, stream: bool) -> dict[str, str]:
        h = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **self.extra_headers,
        }
        if self._api_key:
            h["authorization"] = f"Bearer {self._api_key}"
        return h

    def ratelimit(self, headers: httpx.Headers) -> RateLimitInfo:
        """Trial keys report their per-minute endpoint allowance; production keys nothing."""
        return RateLimitInfo(
            limit_requests=_int(headers.get("x-trial-endpoint-call-limit")),
            remaining_requests=_int(headers.get("x-trial-endpoint-call-remaining")),
            retry_after_s=parse_retry_after(headers, self.clock.now()),
        )

    async def complete(self, request: ChatRequest, model: str) -> ChatResponse:
        body = wire_request(request, model, stream=False)
        url = f"{self.base_url}/v2/chat"
        resp = await post_json(self, url, self.headers(stream=False), body)
        rl = self.ratelimit(resp.headers)
        if resp.status_code >= 400:
            raise self.error_from_body(resp.status_code, resp.content, rl)
        data = load_json(resp.content, "chat")
        try:
            return _response(data, resp.status_code, or_none(rl))
        except (KeyError, TypeError, AttributeError):
            raise ProviderError(
                ErrorKind.malformed, "upstream sent a chat response of the wrong shape"
            ) from None

    async def stream(self, request: ChatRequest, model: str) -> AsyncIterator[ChatChunk]:
        body = wire_request(request, model, stream=True)
        url = f"{self.base_url}/v2/chat"
        async with EventStream(self, url, self.headers(stream=True), body) as es:
            rl = self.ratelimit(es.headers)
            if es.status >= 400:
                raise self.error_from_body(es.status, await es.read_body(), rl)
            if not es.is_event_stream():
                raise ProviderError(
                    ErrorKind.malformed, "upstream answered a stream without server-sent events"
                )
            ratelimit = or_none(rl)
            events = _StreamEvents()
            async for event in es.events():
                if not event.data.strip():
                    continue
                data = load_json(event.data, "stream event")
                if not isinstance(data, dict):
                    raise ProviderError(ErrorKind.malformed, "upstream sent a non-object event")
                try:
                    chunk = events.feed(data, event.event)
                except (KeyError, TypeError, AttributeError):
                    raise ProviderError(
                        ErrorKind.malformed, "upstream sent a stream event of the wrong shape"
                    ) from None
                if chunk is not None:
                    chunk.ratelimit, ratelimit = ratelimit, None
                    yield chunk
                if events.ended:
                    break
            if not events.ended:
                raise ProviderError(ErrorKind.malformed, "upstream stream ended before it finished")
            yield ChatChunk(finish_reason=events.finish, usage=events.usage, ratelimit=ratelimit)

    def error_from_body(self, status: int, raw: bytes, rl: RateLimitInfo) -> ProviderError:
        """`{"id", "message"}` (older: `{"message"}`) with an HTTP status → error."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            message = data["message"]
        else:
            message = raw[:200].decode("utf-8", "replace")
        message = self.redact(message)
        if status == 498:  # Cohere's "invalid token"
            kind = ErrorKind.auth
        elif status == 499:  # "client closed request", though we did not: theirs to retry
            kind = ErrorKind.server
        elif status == 422:
            kind = ErrorKind.bad_request
        elif status == 402:  # out of credit: fail over away from this account
            kind = ErrorKind.auth
        else:
            kind = classify_status(status, message)
        return ProviderError(
            kind,
            f"HTTP {status}: {message}" if message else f"HTTP {status}",
            status=status,
            retry_after_s=rl.retry_after_s,
            ratelimit=or_none(rl),
            retryable=not (status == 402 or status == 429 and _MONTHLY.search(message)),
        )


# --------------------------------------------------------------------------- request


def wire_request(request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": wire_messages(request.messages)}
    tools = list(request.tools or [])
    choice = request.tool_choice
    if isinstance(choice, dict):  # Cohere cannot name a function: offer only that one
        name = (choice.get("function") or {}).get("name")
        tools = [t for t in tools if (t.get("function") or {}).get("name") == name]
        body["tool_choice"] = "REQUIRED"
    elif choice in ("required", "none"):
        body["tool_choice"] = str(choice).upper()
    elif choice not in (None, "auto"):
        raise ProviderError(ErrorKind.bad_request, f"unsupported tool_choice {choice!r}")
    if tools:
        body["tools"] = [_tool(t) for t in tools]
        if any((t.get("function") or {}).get("strict") for t in tools):
            body["strict_tools"] = True
    for key, value in (
        ("max_tokens", request.max_tokens),
        ("temperature", request.temperature),
        ("p", request.top_p),
        ("stop_sequences", request.stop or None),
        ("seed", param(request, "seed")),
        ("frequency_penalty", param(request, "frequency_penalty")),
        ("presence_penalty", param(request, "presence_penalty")),
    ):
        if value is not None:
            body[key] = value
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        body["response_format"] = {
            "type": "json_object",
            **({"json_schema": schema} if schema else {}),
        }
    if stream:
        body["stream"] = True
    return body


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _text(content)})
        elif role == "user":
            out.append({"role": "user", "content": _user_content(content)})
        elif role == "assistant":
            msg: dict[str, Any] = {"role": "assistant"}
            text = _text(content)
            if m.get("tool_calls"):
                msg["tool_calls"] = [_tool_call(c) for c in m["tool_calls"]]
                if text:  # the text beside tool calls is Cohere's tool plan
                    msg["tool_plan"] = text
            elif text:
                msg["content"] = text
            if len(msg) > 1:  # Cohere rejects an assistant turn with neither
                out.append(msg)
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": m.get("tool_call_id", ""),
                    "content": _text(content),
                }
            )
        else:
            raise ProviderError(ErrorKind.bad_request, f"unsupported message role {role!r}")
    return out


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(
        p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
    )


def _user_content(content: Any) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for p in content:
        kind = p.get("type") if isinstance(p, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": p.get("text", "")})
        elif kind == "image_url":  # the vision models take OpenAI's image part as is
            image = p.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image)
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            raise ProviderError(ErrorKind.bad_request, f"unsupported content part {kind!r}")
    return parts


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    arguments = fn.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments or {}).decode()
    return {
        "id": call.get("id", ""),
        "type": "function",
        "function": {"name": fn.get("name", ""), "arguments": arguments},
    }


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type", "function") != "function":
        raise ProviderError(ErrorKind.bad_request, f"unsupported tool type {tool.get('type')!r}")
    fn = tool.get("function") or {}
    out: dict[str, Any] = {"name": fn.get("name", "")}
    for key in ("description", "parameters"):
        if fn.get(key):
            out[key] = fn[key]
    return {"type": "function", "function": out}


# --------------------------------------------------------------------------- response


def _response(data: Any, status: int, ratelimit: RateLimitInfo | None) -> ChatResponse:
    _check_finish(data.get("finish_reason"))
    message = data["message"]
    text = "".join(p["text"] for p in message.get("content") or [] if p.get("type") == "text")
    tool_calls = [_tool_call(c) for c in message.get("tool_calls") or []]
    plan = message.get("tool_plan")
    if not text and tool_calls and isinstance(plan, str):
        text = plan  # the model's plan for its tool calls: the content beside them
    return ChatResponse(
        content=text if text or not tool_calls else None,
        tool_calls=tool_calls,
        finish_reason=_finish(data.get("finish_reason")),
        usage=_usage(data.get("usage")),
        id=str(data.get("id") or ""),
        status=status,
        ratelimit=ratelimit,
    )


class _StreamEvents:
    """Cohere's typed stream events → OpenAI-shaped chunks."""

    def __init__(self) -> None:
        self.ended = False
        self.finish = "stop"
        self.usage: Usage | None = None
        self._tool_index: dict[int, int] = {}  # Cohere's event index → our tool-call index

    def feed(self, data: dict[str, Any], sse_event: str) -> ChatChunk | None:
        kind = data.get("type") or sse_event
        delta = data.get("delta") or {}
        if kind == "content-delta":
            text = ((delta.get("message") or {}).get("content") or {}).get("text")
            return ChatChunk(content=text) if text else None  # thinking deltas carry no text
        if kind == "tool-call-start":
            call = delta["message"]["tool_calls"]
            index = self._tool_index.setdefault(data.get("index", 0), len(self._tool_index))
            fn = call.get("function") or {}
            return ChatChunk(
                tool_calls=[
                    {
                        "index": index,
                        "id": call.get("id", ""),
                        "type": "function",
                        "function": {
                            "name": fn.get("name", ""),
                            "arguments": fn.get("arguments") or "",
                        },
                    }
                ]
            )
        if kind == "tool-call-delta":
            fragment = delta["message"]["tool_calls"]["function"].get("arguments") or ""
            index = self._tool_index[data.get("index", 0)]
            return ChatChunk(tool_calls=[{"index": index, "function": {"arguments": fragment}}])
        if kind == "tool-plan-delta":  # the plan before tool calls: content, as in answers
            text = (delta.get("message") or {}).get("tool_plan")
            return ChatChunk(content=text) if isinstance(text, str) and text else None
        if kind == "message-end":
            _check_finish(delta.get("finish_reason"))
            self.ended = True
            self.finish = _finish(delta.get("finish_reason"))
            self.usage = _usage(delta.get("usage"))
        return None  # message-start, content-start/-end, citations, debug


def _check_finish(reason: Any) -> None:
    kind = _FAILED.get(str(reason or "").upper())
    if kind is not None:
        raise ProviderError(kind, f"upstream finished with {str(reason).upper()}")


def _finish(reason: Any) -> str:
    return _FINISH.get(str(reason or "COMPLETE").upper(), "stop")


def _usage(u: Any) -> Usage:
    """Cohere bills `billed_units`; `tokens` also counts the prompt template and tool
    definitions it adds (215 vs 17 input tokens in its own docs), which are not billed."""
    if not isinstance(u, dict):
        return Usage()
    billed = u.get("billed_units") if isinstance(u.get("billed_units"), dict) else None
    counts = billed or (u.get("tokens") if isinstance(u.get("tokens"), dict) else {})
    return Usage(
        prompt_tokens=_int(counts.get("input_tokens")) or 0,
        completion_tokens=_int(counts.get("output_tokens")) or 0,
        cached_prompt_tokens=_int(u.get("cached_tokens")) or 0,
    )


def _int(v: Any) -> int | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        n = int(float(v))
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None
