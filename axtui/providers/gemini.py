"""Google's Gemini API (generativelanguage.googleapis.com, `generateContent`; v1beta by
default, `api_version = "v1"` for the stable surface).

OpenAI-shaped requests become `contents` of `user`/`model` turns with typed parts; tool
calls travel as `functionCall` / `functionResponse` parts. Gemini names no tool-call ids,
so ids are made here and a tool result finds its function name through the assistant turn
that called it. Gemini 3 signs its function calls (`thoughtSignature`) and rejects a later
turn that drops the signature, so it rides along on the OpenAI tool call as
`extra_content.google.thought_signature`, the field Google's own OpenAI endpoint uses.

The key goes in the `x-goog-api-key` header, never in the URL, so it cannot reach a log.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from axtui.providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Provider,
    parse_duration,
    parse_retry_after,
)
from axtui.providers.errors import ProviderError, classify_status
from axtui.providers.params import GEMINI_THINKING_BUDGET, param
from axtui.providers.transport import (
    EventStream,
    close_own_client,
    load_json,
    post_json,
    status_error,
)
from axtui.records import ErrorKind, Usage

API_VERSION = "v1beta"  # tools' JSON Schema, responseJsonSchema and thinking need v1beta
_FINISH = {
    "STOP": "stop", "MAX_TOKENS": "length",
    **dict.fromkeys(("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                     "IMAGE_SAFETY"), "content_filter"),
}  # fmt: skip
# Finish reasons that are failures, not answers: the attempt fails over.
_FAILED = {"MALFORMED_FUNCTION_CALL": ErrorKind.malformed,
           "UNEXPECTED_TOOL_CALL": ErrorKind.malformed}
_STATUS_KIND = {
    "RESOURCE_EXHAUSTED": ErrorKind.rate_limited, "UNAUTHENTICATED": ErrorKind.auth,
    "PERMISSION_DENIED": ErrorKind.auth, "NOT_FOUND": ErrorKind.not_found,
    "UNAVAILABLE": ErrorKind.overloaded, "INTERNAL": ErrorKind.server,
    "DEADLINE_EXCEEDED": ErrorKind.timeout,
}  # fmt: skip
_TOKENS_WORDING = re.compile(
    r"token count|tokens allowed|too many tokens|context (?:length|window)", re.I
)
_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?)s", re.I)
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.S)
_RPC = "type.googleapis.com/google.rpc."
# Google's documented stand-in for a function call that Gemini did not sign (a history
# written by another provider); without it Gemini 3 rejects the turn.
_UNSIGNED = "skip_thought_signature_validator"


class GeminiProvider(Provider):
    honours_deadline = True  # complete() ends by REQUEST_DEADLINE
    protocol = "gemini"

    async def aclose(self) -> None:
        await close_own_client(self)

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json", **self.extra_headers}
        if self._api_key:
            h["x-goog-api-key"] = self._api_key
        return h

    def model_url(self, model: str, method: str) -> str:
        version = self.api_version or API_VERSION
        return f"{self.base_url}/{version}/models/{model.removeprefix('models/')}:{method}"

    async def complete(self, request: ChatRequest, model: str) -> ChatResponse:
        body = wire_request(request, model)
        resp = await post_json(self, self.model_url(model, "generateContent"), self.headers(), body)
        if resp.status_code >= 400:
            raise self.error_from_body(resp.status_code, resp.content, resp.headers)
        data = self.payload(resp.content, "generateContent", resp.headers)
        turn = _Turn()
        turn.feed(data)
        turn.check_finish()
        return turn.response(data, resp.status_code)

    async def stream(self, request: ChatRequest, model: str) -> AsyncIterator[ChatChunk]:
        body = wire_request(request, model)
        url = self.model_url(model, "streamGenerateContent") + "?alt=sse"
        async with EventStream(self, url, self.headers(), body) as es:
            if es.status >= 400:
                raise self.error_from_body(es.status, await es.read_body(), es.headers)
            if not es.is_event_stream():
                raise ProviderError(
                    ErrorKind.malformed, "upstream answered a stream without server-sent events"
                )
            turn = _Turn()
            async for event in es.events():
                if not event.data.strip():
                    continue
                chunk = turn.feed(self.payload(event.data, "stream event", es.headers))
                if chunk is not None:
                    yield chunk
            if turn.finish is None:
                raise ProviderError(ErrorKind.malformed, "upstream stream ended before it finished")
            turn.check_finish()
            yield ChatChunk(finish_reason=turn.finish_reason(), usage=turn.usage)

    def payload(self, raw: bytes | str, what: str, headers: httpx.Headers) -> dict[str, Any]:
        """A GenerateContentResponse, or the error a 200 carried instead."""
        data = load_json(raw, what)
        if not isinstance(data, dict):
            raise ProviderError(ErrorKind.malformed, f"upstream sent a non-object {what}")
        if isinstance(data.get("error"), dict):
            raise self.error_from_payload(None, data["error"], headers)
        return data

    # ---------------------------------------------------------------- errors

    def error_from_body(self, status: int, raw: bytes, headers: httpx.Headers) -> ProviderError:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, list) and data:  # the non-SSE stream endpoint wraps it in a list
            data = data[0]
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return self.error_from_payload(status, data["error"], headers)
        return status_error(self, status, raw,
                            retry_after_s=parse_retry_after(headers, self.clock.now()))

    def error_from_payload(
        self, status: int | None, err: dict[str, Any], headers: httpx.Headers
    ) -> ProviderError:
        """`{"code", "message", "status", "details": [...]}` (google.rpc.Status) → error.
        `status` is None for an error that arrived inside a 200 stream."""
        grpc = str(err.get("status") or "")
        message = str(err.get("message") or "")
        code = err.get("code") if isinstance(err.get("code"), int) else None
        http = status if status is not None else code
        details = [d for d in err.get("details") or [] if isinstance(d, dict)]
        reasons = {d.get("reason") for d in details if d.get("@type") == _RPC + "ErrorInfo"}
        if "API_KEY_INVALID" in reasons:
            kind = ErrorKind.auth
        elif grpc in _STATUS_KIND:
            kind = _STATUS_KIND[grpc]
        elif grpc == "INVALID_ARGUMENT" and _TOKENS_WORDING.search(message):
            kind = ErrorKind.context_length
        else:
            kind = classify_status(http or 500, message)
        per_day = any(
            "PerDay" in str(v.get("quotaId") or "")
            for d in details
            if d.get("@type") == _RPC + "QuotaFailure"
            for v in d.get("violations") or []
            if isinstance(v, dict)
        )
        return ProviderError(
            kind,
            self.redact(f"{grpc or http}: {message}" if message else f"{grpc or http}"),
            status=status,
            retry_after_s=self._retry_after(details, message, headers),
            retryable=not per_day,  # a per-day quota resets at midnight Pacific, not soon
        )

    def _retry_after(
        self, details: list[dict[str, Any]], message: str, headers: httpx.Headers
    ) -> float | None:
        for d in details:
            if d.get("@type") == _RPC + "RetryInfo" and isinstance(d.get("retryDelay"), str):
                return parse_duration(d["retryDelay"])
        if (ra := parse_retry_after(headers, self.clock.now())) is not None:
            return ra
        m = _RETRY_IN.search(message)
        return float(m.group(1)) if m else None


# --------------------------------------------------------------------------- request


# models whose thinking budget reasoning_effort sets (2.5; Gemini 3 takes thinkingLevel)
_THINKS = re.compile(r"^(?:models/)?gemini-2\.5")


def wire_request(request: ChatRequest, model: str = "") -> dict[str, Any]:
    system, contents = wire_contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    config: dict[str, Any] = {}
    for key, value in (
        ("maxOutputTokens", request.max_tokens),
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("stopSequences", request.stop or None),
        ("seed", param(request, "seed")),
        ("presencePenalty", param(request, "presence_penalty")),
        ("frequencyPenalty", param(request, "frequency_penalty")),
    ):
        if value is not None:
            config[key] = value
    effort = param(request, "reasoning_effort")
    if effort is not None and _THINKS.match(model):
        config["thinkingConfig"] = {"thinkingBudget": GEMINI_THINKING_BUDGET[effort]}
    fmt = request.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema is not None:  # full JSON Schema, unlike the OpenAPI subset `responseSchema`
            config["responseJsonSchema"] = schema
    if config:
        body["generationConfig"] = config
    return body


def wire_contents(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """OpenAI messages → (systemInstruction parts, contents). Consecutive turns of one role
    merge, since Gemini wants user and model turns to alternate."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id → function name, from the calling turn
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(m.get("content")))
            continue
        if role == "user":
            who, parts = "user", _user_parts(m.get("content"))
        elif role == "assistant":
            who, parts = "model", _model_parts(m, names)
        elif role == "tool":
            who, parts = "user", [_function_response(m, names)]
        else:
            raise ProviderError(ErrorKind.bad_request, f"unsupported message role {role!r}")
        if not parts:
            continue
        if contents and contents[-1]["role"] == who:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": who, "parts": parts})
    return system, contents


def _texts(content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    return [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"]


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"text": t} for t in _texts(content)]
    parts: list[dict[str, Any]] = []
    for p in content:
        kind = p.get("type") if isinstance(p, dict) else None
        if kind == "text":
            parts.append({"text": p.get("text", "")})
        elif kind == "image_url":
            image = p.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media_part(str(url or "")))
        elif kind == "input_audio":
            audio = p.get("input_audio") or {}
            mime = f"audio/{audio.get('format', 'wav')}"
            parts.append({"inlineData": {"mimeType": mime, "data": audio.get("data", "")}})
        else:
            raise ProviderError(ErrorKind.bad_request, f"unsupported content part {kind!r}")
    return parts


def _media_part(url: str) -> dict[str, Any]:
    m = _DATA_URL.fullmatch(url)
    if m:
        return {"inlineData": {"mimeType": m.group(1), "data": m.group(2)}}
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _model_parts(m: dict[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": t} for t in _texts(m.get("content"))]
    for i, call in enumerate(m.get("tool_calls") or []):
        fn = call.get("function") or {}
        name = fn.get("name", "")
        names[call.get("id", "")] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": _args(fn.get("arguments"))}}
        signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if signature or i == 0:
            part["thoughtSignature"] = signature or _UNSIGNED
        parts.append(part)
    return parts


def _args(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise ProviderError(ErrorKind.bad_request, "tool call arguments are not JSON") from None
    if not isinstance(value, dict):
        raise ProviderError(ErrorKind.bad_request, "tool call arguments are not a JSON object")
    return value


def _function_response(m: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    name = names.get(m.get("tool_call_id", "")) or m.get("name")
    if not name:
        raise ProviderError(ErrorKind.bad_request, "tool message answers no known tool call")
    content = m.get("content")
    text = content if isinstance(content, str) else "".join(_texts(content))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    # `response` must be an object; Google's convention puts a plain result under "output".
    response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": response}}


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type", "function") != "function":
        raise ProviderError(ErrorKind.bad_request, f"unsupported tool type {tool.get('type')!r}")
    fn = tool.get("function") or {}
    decl: dict[str, Any] = {"name": fn.get("name", "")}
    if fn.get("description"):
        decl["description"] = fn["description"]
    if fn.get("parameters"):
        decl["parametersJsonSchema"] = fn["parameters"]
    return decl


def _calling_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return {"mode": "ANY", "allowedFunctionNames": [name]} if name else {"mode": "ANY"}
    mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(str(choice))
    if mode is None:
        raise ProviderError(ErrorKind.bad_request, f"unsupported tool_choice {choice!r}")
    return {"mode": mode}


# --------------------------------------------------------------------------- response


class _Turn:
    """One model turn, fed GenerateContentResponse objects: the whole answer, or a
    stream's events one by one (each yields the delta it carried)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.finish: str | None = None
        self.usage: Usage | None = None

    def feed(self, data: dict[str, Any]) -> ChatChunk | None:
        block = (data.get("promptFeedback") or {}).get("blockReason")
        if block:
            raise ProviderError(ErrorKind.content_policy, f"prompt blocked by Gemini ({block})")
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = _usage(data["usageMetadata"])
        candidates = data.get("candidates")
        if candidates is None:
            return None  # e.g. a usage-only event
        if not isinstance(candidates, list) or not candidates:
            raise ProviderError(ErrorKind.malformed, "upstream sent no candidates")
        cand = candidates[0]
        if not isinstance(cand, dict):
            raise ProviderError(ErrorKind.malformed, "upstream sent a malformed candidate")
        parts = (cand.get("content") or {}).get("parts") or []
        if not isinstance(parts, list):
            raise ProviderError(ErrorKind.malformed, "upstream sent malformed content parts")
        text: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in parts:
            if not isinstance(part, dict) or part.get("thought"):
                continue  # thought summaries are not the answer
            if isinstance(part.get("text"), str):
                text.append(part["text"])
            elif isinstance(part.get("functionCall"), dict):
                calls.append(self._call(part))
        self.text.extend(text)
        self.finish = cand.get("finishReason") or self.finish
        content = "".join(text)
        if not content and not calls:
            return None
        return ChatChunk(content=content or None, tool_calls=calls or None)

    def _call(self, part: dict[str, Any]) -> dict[str, Any]:
        fc = part["functionCall"]
        call: dict[str, Any] = {
            "index": len(self.tool_calls),
            "id": str(fc.get("id") or f"call_{secrets.token_hex(12)}"),
            "type": "function",
            "function": {
                "name": str(fc.get("name") or ""),
                "arguments": orjson.dumps(fc.get("args") or {}).decode(),
            },
        }
        if part.get("thoughtSignature"):
            call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
        self.tool_calls.append({k: v for k, v in call.items() if k != "index"})
        return call

    def check_finish(self) -> None:
        kind = _FAILED.get(self.finish or "")
        if kind is not None:
            raise ProviderError(kind, f"upstream finished with {self.finish}")

    def finish_reason(self) -> str:
        if self.tool_calls and self.finish in (None, "STOP"):
            return "tool_calls"
        return _FINISH.get(self.finish or "STOP", "stop")

    def response(self, data: dict[str, Any], status: int) -> ChatResponse:
        if data.get("candidates") is None:
            raise ProviderError(ErrorKind.malformed, "upstream sent no candidates", status=status)
        return ChatResponse(
            content="".join(self.text) if self.text or not self.tool_calls else None,
            tool_calls=self.tool_calls,
            finish_reason=self.finish_reason(),
            usage=self.usage or Usage(),
            usage_reported=self.usage is not None,
            model=str(data.get("modelVersion") or ""),
            id=str(data.get("responseId") or ""),
            status=status,
        )


def _usage(meta: dict[str, Any]) -> Usage:
    def n(key: str) -> int:
        v = meta.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0

    return Usage(
        prompt_tokens=n("promptTokenCount") + n("toolUsePromptTokenCount"),
        completion_tokens=n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cached_prompt_tokens=n("cachedContentTokenCount"),
    )
