"""OpenAI's transcription endpoint, `POST {base_url}/audio/transcriptions`, multipart: OpenAI
itself (whisper-1, gpt-4o-transcribe) and the servers that speak its dialect (Groq's
whisper-large-v3 at https://api.groq.com/openai/v1). Errors are OpenAI's JSON, read by the
chat adapter's own classifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axtui.providers.audio import (
    TranscriptionRequest,
    TranscriptionResponse,
    encode_form,
    read_answer,
)
from axtui.providers.base import or_none, parse_openai_ratelimit
from axtui.providers.transport import post_bytes

if TYPE_CHECKING:
    from axtui.providers.openai import OpenAIProvider


async def transcribe(provider: OpenAIProvider, request: TranscriptionRequest, model: str
                     ) -> TranscriptionResponse:
    ctype, body = encode_form(request.form_fields(model), "file", request.filename,
                              request.file_type, request.file)
    headers = {"content-type": ctype, "accept": "application/json, text/plain",
               **provider.extra_headers}
    if provider._api_key:
        headers["authorization"] = f"Bearer {provider._api_key}"
    url = f"{provider.base_url}/audio/transcriptions"
    resp = await post_bytes(provider, url, headers, body)
    rl = parse_openai_ratelimit(resp.headers, provider.clock.now())
    if resp.status_code >= 400:
        raise provider.error_from_body(resp.status_code, resp.content, rl)
    return read_answer(resp.content, request.response_format, resp.status_code, or_none(rl))
