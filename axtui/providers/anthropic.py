"""Anthropic's Messages API (POST {base_url}/v1/messages), translated to and from the
OpenAI chat shape axtui speaks inside.

Usage: Anthropic's `input_tokens` excludes cache reads and cache writes; we report
`prompt_tokens` as all input tokens (OpenAI's meaning), `cached_prompt_tokens` as the
cache reads within them and `cache_write_tokens` as the cache writes within them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from axtui.providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Provider,
    RateLimitInfo,
    or_none,
    parse_anthropic_ratelimit,
    retry_after,
)
from axtui.providers.errors import ProviderError, classify_status
from axtui.providers.params import param
from axtui.providers.transport import (
    EventStream,
    close_own_client,
    load_json,
    post_json,
    status_error,
)
from axtui.records import ErrorKind, Usage

API_VERSION = "2023-06-01"  # the default `anthropic-version`; `api_version` overrides it
# Anthropic requires max_tokens; OpenAI callers often omit it. Then the model's output
# limit from the catalog is sent (within its context window); when the catalog knows no
# limit for the model, the smallest output limit of any Claude model.
DEFAULT_MAX_TOKENS = 4096
_MIN_DEFAULT_MAX_TOKENS = 1024
_JSON_OBJECT_INSTRUCTION = "Respond with one JSON object and nothing else."
REFUSED = "The model declined to answer."  # a refusal that came with no text

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_KIND = {
    "overloaded_error": ErrorKind.overloaded,
    "rate_limit_error": ErrorKind.rate_limited,
    "authentication_error": ErrorKind.auth,
    "permission_error": ErrorKind.auth,
    "billing_error": ErrorKind.auth,
    "not_found_error": ErrorKind.not_found,
    "request_too_large": ErrorKind.context_length,
    "timeout_error": ErrorKind.timeout,
    "api_error": ErrorKind.server,
}


class AnthropicProvider(Provider):
    honours_deadline = True  # complete() ends by REQUEST_DEADLINE
    protocol = "anthropic"

    async def aclose(self) -> None:
        await close_own_client(self)

    @property
    def messages_url(self) -> str:
        root = self.base_url.removesuffix("/v1")  # tolerate a base_url given with /v1
        return f"{root}/v1/messages"

    def headers(self, *, stream: bool) -> dict[str, str]:
        h = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": self.api_version or API_VERSION,
            **self.extra_headers,
        }
        if self._api_key:
            h["x-api-key"] = self._api_key
        return h

    def wire_request(self, request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
        system, messages = wire_messages(request.messages)
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens or self.default_max_tokens(request, model),
            "messages": messages,
        }
        fmt = request.response_format or {}
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        elif fmt.get("type") == "json_object":
            # no JSON mode on this wire: asked for in words (the catalog gives no Claude
            # `json`, so only a deployment configured to claim it gets here)
            system = f"{system}\n\n{_JSON_OBJECT_INSTRUCTION}" if system else \
                _JSON_OBJECT_INSTRUCTION
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)  # OpenAI allows up to 2
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = request.stop
        if request.tools:
            body["tools"] = [wire_tool(t) for t in request.tools]
        choice = request.tool_choice
        serial = param(request, "parallel_tool_calls") is False and bool(request.tools)
        if choice is not None or serial:
            body["tool_choice"] = wire_tool_choice(choice if choice is not None else "auto")
            if serial and body["tool_choice"]["type"] != "none":
                body["tool_choice"]["disable_parallel_tool_use"] = True
        user = request.user or param(request, "safety_identifier")
        if user:
            body["metadata"] = {"user_id": user}
        if stream:
            body["stream"] = True
        return body

    def default_max_tokens(self, request: ChatRequest, model: str) -> int:
        """The model's output limit, kept inside its context window beside the prompt."""
        limit = self.output_limits.get(model)
        if limit is None:
            return DEFAULT_MAX_TOKENS
        most, window = limit
        prompt = len(orjson.dumps(request.messages)) // 3  # generous: ~3 bytes a token
        return max(_MIN_DEFAULT_MAX_TOKENS, min(most, window - prompt))

    async def complete(self, request: ChatRequest, model: str) -> ChatResponse:
        body = self.wire_request(request, model, stream=False)
        resp = await post_json(self, self.messages_url, self.headers(stream=False), body)
        rl = parse_anthropic_ratelimit(resp.headers, self.clock.now())
        if resp.status_code >= 400:
            raise self.error_from_body(resp.status_code, resp.content, rl)
        data = load_json(resp.content, "message")
        try:
            return _message(data, resp.status_code, or_none(rl))
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise ProviderError(
                ErrorKind.malformed,
                "upstream sent a message of the wrong shape",
                status=resp.status_code,
            ) from None

    async def stream(self, request: ChatRequest, model: str) -> AsyncIterator[ChatChunk]:
        body = self.wire_request(request, model, stream=True)
        async with EventStream(self, self.messages_url, self.headers(stream=True), body) as es:
            rl = parse_anthropic_ratelimit(es.headers, self.clock.now())
            if es.status >= 400:
                raise self.error_from_body(es.status, await es.read_body(), rl)
            if not es.is_event_stream():
                raise ProviderError(
                    ErrorKind.malformed,
                    "upstream answered a stream request without a stream",
                    status=es.status,
                )
            state = _StreamState()
            ratelimit = or_none(rl)
            async for event in es.events():
                data = load_json(event.data, "stream event")
                if not isinstance(data, dict):
                    raise ProviderError(ErrorKind.malformed, "upstream sent a non-object event")
                data.setdefault("type", event.event)
                if data["type"] == "error":
                    raise self.error_from_payload(None, data, rl)
                try:
                    chunk = state.on_event(data)
                except (KeyError, IndexError, TypeError, AttributeError):
                    raise ProviderError(
                        ErrorKind.malformed, "upstream sent a stream event of the wrong shape"
                    ) from None
                if chunk is not None:
                    chunk.ratelimit, ratelimit = ratelimit, None
                    yield chunk
                if state.stopped:
                    return
            if state.stop_reason is None:  # cut before message_delta / message_stop
                raise ProviderError(ErrorKind.malformed, "upstream stream ended before it finished")
            yield state.final(ratelimit)

    def error_from_body(self, status: int, raw: bytes, rl: RateLimitInfo) -> ProviderError:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return self.error_from_payload(status, data, rl)
        return status_error(self, status, raw, retry_after_s=retry_after(rl),
                            ratelimit=or_none(rl))

    def error_from_payload(
        self, status: int | None, data: dict[str, Any], rl: RateLimitInfo
    ) -> ProviderError:
        """`{"type": "error", "error": {"type", "message"}}` → error; `status` is None for
        an `error` event inside a stream."""
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        etype = str(err.get("type") or "")
        message = self.redact(str(err.get("message") or ""))
        if status is not None:
            kind = classify_status(status, message)
        else:
            kind = _KIND.get(etype) or classify_status(400, message)
        billing = etype == "billing_error" or status == 402
        return ProviderError(
            kind,
            message or f"upstream error ({etype or status})",
            status=status,
            retry_after_s=retry_after(rl),
            ratelimit=or_none(rl),
            retryable=not billing,  # out of credit: waiting will not help
        )


# --------------------------------------------------------------------------- requests


def wire_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI messages → (system text, Anthropic messages). System messages are hoisted,
    tool results become user `tool_result` blocks, and consecutive turns of one role merge
    (Anthropic wants all results for one assistant turn in the next user turn)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            system.append(_text_of(content))
            continue
        if role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": m.get("tool_call_id", ""),
                    "content": content if isinstance(content, str) else _blocks(content),
                }
            ]
        elif role == "user":
            blocks = _blocks(content)
        elif role == "assistant":
            blocks = _blocks(content) + [_tool_use(c) for c in m.get("tool_calls") or []]
        else:
            raise ProviderError(ErrorKind.bad_request, f"unsupported message role {role!r}")
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return "\n\n".join(s for s in system if s), out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "\n".join(p.get("text", "") for p in parts if isinstance(p, dict))


def _blocks(content: Any) -> list[dict[str, Any]]:
    """A message's content (a string or OpenAI content parts) → Anthropic content blocks;
    empty text is dropped (Anthropic rejects empty text blocks)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part["image_url"]
            blocks.append(_image(image["url"] if isinstance(image, dict) else image))
        else:
            raise ProviderError(ErrorKind.bad_request, f"content part {kind!r} not supported")
    return blocks


def _image(url: str) -> dict[str, Any]:
    if url.startswith("data:"):  # data:image/png;base64,....
        header, _, payload = url.partition(",")
        media_type = header[len("data:") :].split(";")[0]
        source = {"type": "base64", "media_type": media_type, "data": payload}
    else:
        source = {"type": "url", "url": url}
    return {"type": "image", "source": source}


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    try:
        arguments = orjson.loads(fn.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        raise ProviderError(ErrorKind.bad_request, "tool call arguments are not JSON") from None
    if not isinstance(arguments, dict):
        raise ProviderError(ErrorKind.bad_request, "tool call arguments are not a JSON object")
    return {
        "type": "tool_use",
        "id": call.get("id", ""),
        "name": fn.get("name", ""),
        "input": arguments,
    }


def wire_tool(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function", tool)
    out = {
        "name": fn["name"],
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if fn.get("description"):
        out["description"] = fn["description"]
    return out


def wire_tool_choice(choice: Any) -> dict[str, Any]:
    if choice == "required":
        return {"type": "any"}
    if choice in ("auto", "none"):
        return {"type": choice}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": choice["function"]["name"]}
    raise ProviderError(ErrorKind.bad_request, f"unsupported tool_choice {choice!r}")


# --------------------------------------------------------------------------- responses


def _usage(u: dict[str, Any]) -> Usage:
    def n(key: str) -> int:
        v = u.get(key)
        return v if isinstance(v, int) and v >= 0 else 0

    cache_read, cache_write = n("cache_read_input_tokens"), n("cache_creation_input_tokens")
    return Usage(
        prompt_tokens=n("input_tokens") + cache_read + cache_write,
        completion_tokens=n("output_tokens"),
        cached_prompt_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def _stop_sequence(stop_reason: str | None, sequence: Any) -> str | None:
    """The stop sequence that ended the answer, when Anthropic says one did."""
    return sequence if stop_reason == "stop_sequence" and isinstance(sequence, str) else None


def _message(data: dict[str, Any], status: int, rl: RateLimitInfo | None) -> ChatResponse:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data["content"]:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_use":
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {
                        "name": block["name"],
                        "arguments": orjson.dumps(block["input"]).decode(),
                    },
                }
            )
    if data.get("stop_reason") == "refusal":  # OpenAI's shape: refusal text, no content
        return ChatResponse(
            content=None, refusal="".join(texts) or REFUSED, finish_reason="stop",
            usage=_usage(data["usage"]), model=str(data.get("model") or ""),
            id=str(data.get("id") or ""), status=status, ratelimit=rl,
        )
    return ChatResponse(
        content="".join(texts) if texts else None,
        tool_calls=calls,
        finish_reason=_FINISH.get(data.get("stop_reason") or "", "stop"),
        usage=_usage(data["usage"]),
        model=str(data.get("model") or ""),
        id=str(data.get("id") or ""),
        status=status,
        ratelimit=rl,
        stop_sequence=_stop_sequence(data.get("stop_reason"), data.get("stop_sequence")),
    )


class _StreamState:
    """What a Messages stream has said so far: usage, stop reason, and which content
    blocks are tool calls (Anthropic indexes blocks; OpenAI deltas index tool calls)."""

    def __init__(self) -> None:
        self.start_usage: dict[str, Any] = {}
        self.delta_usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.stopped = False

    def usage(self) -> Usage:
        return _usage({**self.start_usage, **self.delta_usage})

    def on_event(self, data: dict[str, Any]) -> ChatChunk | None:
        kind = data.get("type")
        if kind == "message_start":
            self.start_usage = data["message"].get("usage") or {}
        elif kind == "content_block_start":
            block = data["content_block"]
            if block["type"] == "tool_use":
                index = self.tool_index[data["index"]] = len(self.tool_index)
                return ChatChunk(
                    tool_calls=[
                        {
                            "index": index,
                            "id": block["id"],
                            "type": "function",
                            "function": {"name": block["name"], "arguments": ""},
                        }
                    ]
                )
            if block["type"] == "text" and block.get("text"):
                return ChatChunk(content=block["text"])
        elif kind == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta" and delta["text"]:
                return ChatChunk(content=delta["text"])
            if delta["type"] == "input_json_delta" and delta["partial_json"]:
                index = self.tool_index[data["index"]]
                return ChatChunk(
                    tool_calls=[{"index": index, "function": {"arguments": delta["partial_json"]}}]
                )
        elif kind == "message_delta":
            self.stop_reason = data["delta"].get("stop_reason") or self.stop_reason
            self.stop_sequence = _stop_sequence(
                self.stop_reason, data["delta"].get("stop_sequence")) or self.stop_sequence
            usage = data.get("usage") or {}  # cumulative counts; absent fields may be null
            self.delta_usage.update({k: v for k, v in usage.items() if v is not None})
        elif kind == "message_stop":
            self.stopped = True
            return self.final()
        return None  # ping, content_block_stop, thinking deltas, events added later

    def final(self, ratelimit: RateLimitInfo | None = None) -> ChatChunk:
        return ChatChunk(finish_reason=_FINISH.get(self.stop_reason or "", "stop"),
                         usage=self.usage(), ratelimit=ratelimit,
                         stop_sequence=self.stop_sequence)
