"""Transcription on the wire: the request and answer types every adapter shares, the
response formats and their content types, reading usage and duration out of an answer, and
the multipart/form-data body a transcription is sent as (OpenAI's and Groq's wire).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from axtui.providers.base import RateLimitInfo
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind

# response_format -> the content type OpenAI answers it with
CONTENT_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "text/plain; charset=utf-8",
    "vtt": "text/plain; charset=utf-8",
}
GRANULARITIES = frozenset({"word", "segment"})


@dataclass(slots=True)
class TranscriptionRequest:
    """One `POST /audio/transcriptions`, as the caller sent it. `model` is the route
    asked for; adapters are told the upstream model id separately. `audio_format` is the
    file's format (its extension, else sniffed from its first bytes)."""

    file: bytes
    filename: str
    audio_format: str
    model: str = ""
    file_type: str | None = None  # the file part's content type, when given
    language: str | None = None
    prompt: str | None = None
    response_format: str = "json"
    temperature: str | None = None  # as sent: forwarded verbatim
    timestamp_granularities: list[str] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)  # other fields, passed on
    user: str | None = None
    stream: bool = False  # answered as events (transcribe_stream); never a form field here

    def form_fields(self, model: str) -> list[tuple[str, str]]:
        """The text fields of the upstream's form, for deployment model `model`."""
        fields = [("model", model)]
        for name in ("language", "prompt", "temperature"):
            value = getattr(self, name)
            if value is not None:
                fields.append((name, value))
        fields.append(("response_format", self.response_format))
        fields += [("timestamp_granularities[]", g) for g in self.timestamp_granularities]
        return fields + self.extra


@dataclass(slots=True)
class TranscriptionResponse:
    """The upstream's answer body, verbatim, in the requested format; and what it says
    about the audio (duration) and the tokens it billed (token-priced models)."""

    body: bytes
    response_format: str
    status: int = 200
    seconds: float | None = None
    audio_tokens: int = 0
    text_tokens: int = 0
    output_tokens: int = 0
    ratelimit: RateLimitInfo | None = None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.response_format]


def _count(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def read_answer(raw: bytes, response_format: str, status: int,
                ratelimit: RateLimitInfo | None) -> TranscriptionResponse:
    """A 2xx answer checked for its format: a JSON object with `text` for json and
    verbose_json (duration and usage read from it), UTF-8 text otherwise."""
    resp = TranscriptionResponse(raw, response_format, status, ratelimit=ratelimit)
    if response_format not in ("json", "verbose_json"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProviderError(ErrorKind.malformed, "upstream sent a transcript that is not "
                                "UTF-8", status=status) from None
        return resp
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ProviderError(ErrorKind.malformed, "upstream sent a transcription of the wrong "
                            "shape", status=status)
    duration = data.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration >= 0:
        resp.seconds = float(duration)
    read_usage(resp, data.get("usage"))
    return resp


def read_usage(resp: TranscriptionResponse, usage: Any) -> None:
    """An answer's (or a stream's done event's) `usage` into `resp`: seconds of audio
    (duration-billed models) or tokens (token-billed ones)."""
    if not isinstance(usage, dict):
        return
    if usage.get("type") == "duration" and resp.seconds is None:
        secs = usage.get("seconds")
        if isinstance(secs, int | float) and not isinstance(secs, bool) and secs >= 0:
            resp.seconds = float(secs)
    elif usage.get("type") == "tokens":
        details = usage.get("input_token_details")
        total_in = _count(usage.get("input_tokens"))
        if isinstance(details, dict):
            resp.audio_tokens = _count(details.get("audio_tokens"))
            resp.text_tokens = _count(details.get("text_tokens"))
        else:  # no split given: all of the input is audio
            resp.audio_tokens = total_in
        resp.output_tokens = _count(usage.get("output_tokens"))


# A streamed transcription's events (OpenAI's wire: `data: {...}` lines, no event names)
DELTA, DONE = "transcript.text.delta", "transcript.text.done"


@dataclass(slots=True)
class TranscriptEvent:
    """One event of a streamed transcription, as the upstream sent it (`data`: its `type`,
    `delta` or the whole `text`, and any logprobs or usage), relayed as it is."""

    data: dict[str, Any]
    ratelimit: RateLimitInfo | None = None

    @property
    def done(self) -> bool:
        return self.data.get("type") == DONE


def events_of(resp: TranscriptionResponse) -> list[TranscriptEvent]:
    """A whole json answer as the two events a stream of it would be (whisper-1 ignores
    `stream` and answers whole): the text as one delta, then done with the usage."""
    data = orjson.loads(resp.body)
    done: dict[str, Any] = {"type": DONE, "text": data["text"]}
    if isinstance(data.get("usage"), dict):
        done["usage"] = data["usage"]
    return [TranscriptEvent({"type": DELTA, "delta": data["text"]}, resp.ratelimit),
            TranscriptEvent(done)]


def _quote(value: str) -> str:
    """A name or filename inside a Content-Disposition, as browsers and the openai SDK
    write it (quotes and line breaks percent-encoded)."""
    return (value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D")
            .replace("\n", "%0A"))


def encode_form(fields: list[tuple[str, str]], file_field: str, filename: str,
                file_type: str | None, data: bytes) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data request: the text fields in order,
    then the file. The boundary is random and checked absent from the file."""
    while True:
        boundary = "axtui-" + os.urandom(12).hex()
        if boundary.encode() not in data:
            break
    b = boundary.encode()
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(b"--%s\r\ncontent-disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (
            b, _quote(name).encode(), value.encode()))
    ctype = "".join(c for c in file_type or "application/octet-stream" if c >= " ").encode(
        "latin-1", "replace")
    parts.append(b"--%s\r\ncontent-disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                 b"content-type: %s\r\n\r\n" % (b, _quote(file_field).encode(),
                                                 _quote(filename).encode(), ctype))
    parts.append(data)
    parts.append(b"\r\n--%s--\r\n" % b)
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)
