"""OpenAI's transcription endpoint, `POST {base_url}/audio/transcriptions`, multipart: OpenAI
itself (whisper-1, gpt-4o-transcribe) and the servers that speak its dialect (Groq's
whisper-large-v3 at https://api.groq.com/openai/v1). Errors are OpenAI's JSON, read by the
chat adapter's own classifier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from axtui.providers.audio import (
    DELTA,
    DONE,
    TranscriptEvent,
    TranscriptionRequest,
    TranscriptionResponse,
    encode_form,
    events_of,
    read_answer,
)
from axtui.providers.base import or_none, parse_openai_ratelimit
from axtui.providers.errors import ProviderError
from axtui.providers.transport import EventStream, load_json, post_bytes
from axtui.records import ErrorKind

if TYPE_CHECKING:
    from axtui.providers.openai import OpenAIProvider


def _form(provider: OpenAIProvider, request: TranscriptionRequest, model: str,
          stream: bool) -> tuple[dict[str, str], bytes]:
    fields = request.form_fields(model) + ([("stream", "true")] if stream else [])
    ctype, body = encode_form(fields, "file", request.filename, request.file_type,
                              request.file)
    accept = "text/event-stream, application/json" if stream else "application/json, text/plain"
    headers = {"content-type": ctype, "accept": accept, **provider.extra_headers}
    if provider._api_key:
        headers["authorization"] = f"Bearer {provider._api_key}"
    return headers, body


async def transcribe(provider: OpenAIProvider, request: TranscriptionRequest, model: str
                     ) -> TranscriptionResponse:
    headers, body = _form(provider, request, model, stream=False)
    url = f"{provider.base_url}/audio/transcriptions"
    resp = await post_bytes(provider, url, headers, body)
    rl = parse_openai_ratelimit(resp.headers, provider.clock.now())
    if resp.status_code >= 400:
        raise provider.error_from_body(resp.status_code, resp.content, rl)
    return read_answer(resp.content, request.response_format, resp.status_code, or_none(rl))


async def transcribe_stream(provider: OpenAIProvider, request: TranscriptionRequest,
                            model: str) -> AsyncIterator[TranscriptEvent]:
    """`stream=true`: the upstream's events as they come, ending with the done event. An
    upstream that ignores `stream` (whisper-1, Groq) answers whole: that answer is given as
    one delta and the done event."""
    headers, body = _form(provider, request, model, stream=True)
    url = f"{provider.base_url}/audio/transcriptions"
    async with EventStream(provider, url, headers, body) as es:
        rl = parse_openai_ratelimit(es.headers, provider.clock.now())
        if es.status >= 400:
            raise provider.error_from_body(es.status, await es.read_body(), rl)
        if not es.is_event_stream():
            whole = read_answer(await es.read_body(), "json", es.status, or_none(rl))
            for event in events_of(whole):
                yield event
            return
        ratelimit = or_none(rl)
        async for sse in es.events():
            if sse.data == "[DONE]":
                break
            data = load_json(sse.data, "transcription event")
            if not isinstance(data, dict):
                raise ProviderError(ErrorKind.malformed, "upstream sent a non-object event")
            if data.get("error") is not None:
                raise provider.error_from_payload(None, data, rl)
            kind = data.get("type")
            if kind == DELTA and not isinstance(data.get("delta"), str) or (
                    kind == DONE and not isinstance(data.get("text"), str)):
                raise ProviderError(ErrorKind.malformed, f"upstream sent a {kind} event "
                                    "without its text")
            yield TranscriptEvent(data, ratelimit)
            ratelimit = None
            if kind == DONE:
                return
        raise ProviderError(ErrorKind.malformed, "upstream stream ended before "
                            f"{DONE}")
