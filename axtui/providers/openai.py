"""OpenAI chat completions: OpenAI itself and every server that speaks its dialect (Groq,
Mistral, Together, OpenRouter, vLLM, Ollama), told apart only by a base URL ending in /v1.

A stream that ends (cleanly or not) before `[DONE]` and before any finish reason raises
`ErrorKind.malformed`: the same kind the transport gives for a connection cut mid-body, so
a truncated stream reads the same whichever way the upstream dropped it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from axtui.providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Provider,
    RateLimitInfo,
    or_none,
    parse_openai_ratelimit,
    retry_after,
)
from axtui.providers.errors import ProviderError, classify_status
from axtui.providers.params import REASONING_DROPS
from axtui.providers.transport import (
    EventStream,
    close_own_client,
    load_json,
    post_json,
    status_error,
)
from axtui.records import ErrorKind, Usage

if TYPE_CHECKING:
    from axtui.providers.audio import (
        TranscriptEvent,
        TranscriptionRequest,
        TranscriptionResponse,
    )


def _count(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


# --------------------------------------------------------------------------- the adapter

_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
_POLICY_CODES = {"content_filter", "content_policy_violation"}
_PASS_THROUGH = ("max_tokens", "temperature", "top_p", "tools", "tool_choice")
# OpenAI's reasoning models refuse `max_tokens` and take `max_completion_tokens`; other
# OpenAI-compatible servers (vLLM, Ollama, older proxies) know only `max_tokens`. They
# also refuse non-default sampling (REASONING_DROPS), which is dropped for them.
_REASONING_MODEL = re.compile(r"^(?:openai/)?(?:o\d|gpt-5(?!-chat))")
# OpenAI models that refuse the reasoning-only hints (reasoning_effort, verbosity)
_PLAIN_OPENAI_MODEL = re.compile(r"^(?:openai/)?(?:gpt-4|gpt-3\.5|gpt-5-chat|chatgpt-)")
_REASONING_HINTS = ("reasoning_effort", "verbosity")


class OpenAIProvider(Provider):
    honours_deadline = True  # complete() ends by REQUEST_DEADLINE
    protocol = "openai"

    async def aclose(self) -> None:
        await close_own_client(self)

    def headers(self, *, stream: bool) -> dict[str, str]:
        h = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **self.extra_headers,
        }
        if self._api_key:  # local servers (vLLM, Ollama) run without one
            h["authorization"] = f"Bearer {self._api_key}"
        return h

    def wire_request(self, request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": request.messages}
        for name in _PASS_THROUGH:
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.params:
            body.update(request.params)
        if _REASONING_MODEL.match(model):
            if "max_tokens" in body:
                body["max_completion_tokens"] = body.pop("max_tokens")
            for name in REASONING_DROPS:
                body.pop(name, None)
        elif _PLAIN_OPENAI_MODEL.match(model):
            for name in _REASONING_HINTS:
                body.pop(name, None)
        if request.stop:
            body["stop"] = request.stop
        if request.response_format is not None:
            body["response_format"] = request.response_format
        if request.user is not None:
            body["user"] = request.user
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(self, request: ChatRequest, model: str) -> ChatResponse:
        body = self.wire_request(request, model, stream=False)
        url = f"{self.base_url}/chat/completions"
        resp = await post_json(self, url, self.headers(stream=False), body)
        rl = parse_openai_ratelimit(resp.headers, self.clock.now())
        if resp.status_code >= 400:
            raise self.error_from_body(resp.status_code, resp.content, rl)
        return self._completion(resp.content, resp.status_code, rl)

    async def transcribe(self, request: TranscriptionRequest, model: str
                         ) -> TranscriptionResponse:
        from axtui.providers.openai_audio import transcribe

        return await transcribe(self, request, model)

    def transcribe_stream(self, request: TranscriptionRequest, model: str
                          ) -> AsyncIterator[TranscriptEvent]:
        from axtui.providers.openai_audio import transcribe_stream

        return transcribe_stream(self, request, model)

    async def stream(self, request: ChatRequest, model: str) -> AsyncIterator[ChatChunk]:
        body = self.wire_request(request, model, stream=True)
        url = f"{self.base_url}/chat/completions"
        async with EventStream(self, url, self.headers(stream=True), body) as es:
            rl = parse_openai_ratelimit(es.headers, self.clock.now())
            if es.status >= 400:
                raise self.error_from_body(es.status, await es.read_body(), rl)
            if not es.is_event_stream():
                # Some servers ignore `stream` (or report an error) with a JSON body.
                raise self.error_from_body(es.status, await es.read_body(), rl, expect_ok=False)
            ratelimit = or_none(rl)
            finish: str | None = None
            usage: Usage | None = None
            async for event in es.events():
                if event.data == "[DONE]":
                    break
                data = load_json(event.data, "stream event")
                if not isinstance(data, dict):
                    raise ProviderError(ErrorKind.malformed, "upstream sent a non-object event")
                if data.get("error") is not None:
                    raise self.error_from_payload(None, data, rl)
                usage = _usage(data) or usage
                chunk, finished = _delta(data)
                finish = finished or finish
                if chunk is not None:
                    chunk.ratelimit, ratelimit = ratelimit, None
                    yield chunk
            else:
                if finish is None:  # cut before [DONE] and before any finish_reason
                    raise ProviderError(
                        ErrorKind.malformed, "upstream stream ended before it finished"
                    )
            yield ChatChunk(finish_reason=finish or "stop", usage=usage, ratelimit=ratelimit)

    # ---------------------------------------------------------------- parsing

    def _completion(self, raw: bytes, status: int, rl: RateLimitInfo) -> ChatResponse:
        data = load_json(raw, "completion")
        if isinstance(data, dict) and data.get("error") is not None:  # OpenRouter: 200 + error
            raise self.error_from_payload(None, data, rl)
        try:
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
            tool_calls = message.get("tool_calls") or []
            refusal = message.get("refusal")
            logprobs = choice.get("logprobs")
            if not (content is None or isinstance(content, str)) or not isinstance(
                tool_calls, list
            ):
                raise TypeError("content or tool_calls of the wrong type")
            return ChatResponse(
                content=content,
                tool_calls=tool_calls,
                finish_reason=choice.get("finish_reason") or "stop",
                usage=_usage(data) or Usage(),
                model=str(data.get("model") or ""),
                id=str(data.get("id") or ""),
                status=status,
                ratelimit=or_none(rl),
                refusal=refusal if isinstance(refusal, str) else None,
                logprobs=logprobs if isinstance(logprobs, dict) else None,
            )
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(
                ErrorKind.malformed, "upstream sent a completion of the wrong shape", status=status
            ) from None

    def error_from_body(
        self, status: int, raw: bytes, rl: RateLimitInfo, *, expect_ok: bool = True
    ) -> ProviderError:
        """An error response as a ProviderError; a 200 that is not what we asked for is
        malformed."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict | str):
            return self.error_from_payload(status, data, rl)
        if status < 400 or not expect_ok:
            return ProviderError(
                ErrorKind.malformed,
                f"upstream answered HTTP {status} with an unexpected body",
                status=status,
                ratelimit=or_none(rl),
            )
        return status_error(self, status, raw, retry_after_s=retry_after(rl),
                            ratelimit=or_none(rl))

    def error_from_payload(
        self, status: int | None, data: dict[str, Any], rl: RateLimitInfo
    ) -> ProviderError:
        """`{"error": {"message", "type", "code", "param"}}` (or a bare string) → error.
        `status` is None for an error that arrived inside a 200 (stream event or body)."""
        err = data["error"] if isinstance(data["error"], dict) else {"message": data["error"]}
        message = self.redact(str(err.get("message") or ""))
        code = str(err.get("code") or "")
        etype = str(err.get("type") or "")
        if code in _CONTEXT_CODES:
            kind = ErrorKind.context_length
        elif code in _POLICY_CODES:
            kind = ErrorKind.content_policy
        elif status is not None and status >= 400:
            kind = classify_status(status, message)
        elif "rate_limit" in code or etype in ("requests", "tokens"):
            kind = ErrorKind.rate_limited
        elif etype == "invalid_request_error":
            kind = classify_status(400, message)
        else:
            kind = ErrorKind.server
        return ProviderError(
            kind,
            message or f"upstream error ({code or etype or status})",
            status=status,
            retry_after_s=retry_after(rl),
            ratelimit=or_none(rl),
            retryable=code != "insufficient_quota",  # billing quota: waiting will not help
        )


def _usage(data: dict[str, Any]) -> Usage | None:
    u = data.get("usage")
    if not isinstance(u, dict):  # Groq's older streams carry it under x_groq
        xg = data.get("x_groq")
        u = xg.get("usage") if isinstance(xg, dict) else None
    if not isinstance(u, dict):
        return None
    details = u.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=_count(u.get("prompt_tokens")),
        completion_tokens=_count(u.get("completion_tokens")),
        cached_prompt_tokens=_count(cached),
    )


def _delta(data: dict[str, Any]) -> tuple[ChatChunk | None, str | None]:
    """One `chat.completion.chunk` → (a chunk with content/tool-call deltas or None, the
    finish reason if this event carried one). The usage-only final event has no choices."""
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise ProviderError(ErrorKind.malformed, "upstream stream event without choices")
    if not choices:
        return None, None
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict):
        raise ProviderError(ErrorKind.malformed, "upstream stream event without a delta")
    content = delta.get("content")
    calls = delta.get("tool_calls")
    tool_calls = None
    if isinstance(calls, list) and calls:
        # Mistral omits `index`; position in the list is what it means.
        tool_calls = [{"index": i, **c} for i, c in enumerate(calls) if isinstance(c, dict)]
    has_content = isinstance(content, str) and content != ""
    refusal = delta.get("refusal")
    refusal = refusal if isinstance(refusal, str) and refusal else None
    logprobs = choice.get("logprobs")
    logprobs = logprobs if isinstance(logprobs, dict) else None
    if not (has_content or tool_calls or refusal or logprobs):
        return None, choice.get("finish_reason")
    chunk = ChatChunk(content=content if has_content else None, tool_calls=tool_calls,
                      refusal=refusal, logprobs=logprobs)
    return chunk, choice.get("finish_reason")
