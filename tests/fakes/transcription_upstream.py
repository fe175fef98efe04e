"""A fake OpenAI/Groq transcription upstream on loopback, speaking the multipart wire.

    async with TranscriptionUpstream(text="hello there", duration=2.0) as up:
        provider = OpenAIProvider("openai", base_url=up.base_url, ...)
        up.fail(500)                       # every request: an OpenAI error body
        up.forms[-1]                       # what the adapter sent, parsed (see Form)

The body is parsed with the stdlib `email` parser (not axtui's own reader), and checked as
OpenAI checks it: a `file` part with a filename, a `model`, a known `response_format`.
Answers are laid out as OpenAI lays out each response_format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson

from axtui.sim.wire.openai import error_body

from .loopback import LoopbackUpstream, ReceivedRequest, Reply, pieces, sse

FORMATS = ("json", "text", "srt", "verbose_json", "vtt")


@dataclass
class Form:
    """One multipart request as the upstream read it: the text fields in order (a repeated
    field appears once per value) and the file."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    filename: str | None = None
    file_type: str | None = None
    file: bytes = b""

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k == name), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]


def parse_multipart(content_type: str, body: bytes) -> Form:
    msg = BytesParser(policy=HTTP).parsebytes(
        b"content-type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ValueError("not a multipart body")
    form = Form()
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        if filename is not None:
            form.filename, form.file_type, form.file = filename, part.get_content_type(), data
        else:
            form.fields.append((str(name), data.decode()))
    return form


def _ts(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


class TranscriptionUpstream(LoopbackUpstream):
    routes = frozenset({("POST", "/v1/audio/transcriptions")})

    def __init__(self, *, text: str = "Hello from the fake transcriber.", duration: float = 2.0,
                 api_key: str | None = None, tokens: tuple[int, int, int] | None = None,
                 streams: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.text, self.duration = text, duration
        self.streams = streams  # stream=true gets SSE events (gpt-4o-transcribe); else ignored
        self.cut_after: int | None = None  # a stream's connection closes after that many events
        self.api_key = api_key
        self.tokens = tokens  # (audio in, text in, out): answer json with token usage
        self.failing: int | None = None
        self.forms: list[Form] = []

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def __aenter__(self) -> TranscriptionUpstream:
        await self.start()
        return self

    def fail(self, status: int | None) -> None:
        """Answer every request with this error status (None: stop failing)."""
        self.failing = status

    def check(self, rec: ReceivedRequest) -> Reply | None:
        if self.api_key and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, body=error_body("Incorrect API key provided", "invalid_request_error"))
        try:
            form = parse_multipart(rec.headers.get("content-type", ""), rec.raw)
        except ValueError as e:
            return Reply(400, body=error_body(str(e), "invalid_request_error"))
        self.forms.append(form)
        if form.filename is None:
            return Reply(400, body=error_body("you must provide a file", "invalid_request_error"))
        if not form.get("model"):
            return Reply(400, body=error_body("you must provide a model parameter",
                                              "invalid_request_error"))
        if (form.get("response_format") or "json") not in FORMATS:
            return Reply(400, body=error_body("bad response_format", "invalid_request_error"))
        if self.failing is not None:
            return Reply(self.failing, body=error_body(f"fake failure {self.failing}",
                                                       "server_error"))
        return None

    def default_answer(self, rec: ReceivedRequest) -> Any:
        return None

    def render(self, ans: Any, rec: ReceivedRequest) -> Reply:
        form = self.forms[-1]
        fmt = form.get("response_format") or "json"
        text, d = self.text, self.duration
        if fmt == "text":
            return Reply(body=(text + "\n").encode(), content_type="text/plain; charset=utf-8")
        if fmt == "srt":
            body = f"1\n{_ts(0, ',')} --> {_ts(d, ',')}\n{text}\n\n"
            return Reply(body=body.encode(), content_type="text/plain; charset=utf-8")
        if fmt == "vtt":
            body = f"WEBVTT\n\n{_ts(0, '.')} --> {_ts(d, '.')}\n{text}\n\n"
            return Reply(body=body.encode(), content_type="text/plain; charset=utf-8")
        if self.tokens is not None:
            audio, text_in, out = self.tokens
            usage: dict[str, Any] = {
                "type": "tokens", "input_tokens": audio + text_in, "output_tokens": out,
                "total_tokens": audio + text_in + out,
                "input_token_details": {"text_tokens": text_in, "audio_tokens": audio}}
        else:
            usage = {"type": "duration", "seconds": round(d)}
        if fmt == "json" and self.streams and form.get("stream") == "true":
            events = [sse({"type": "transcript.text.delta", "delta": p}) for p in pieces(text)]
            events.append(sse({"type": "transcript.text.done", "text": text, "usage": usage}))
            return Reply(events=events, cut_after=self.cut_after)
        if fmt == "json":
            return Reply(body=orjson.dumps({"text": text, "usage": usage}))
        grains = form.all("timestamp_granularities[]") or ["segment"]
        body: dict[str, Any] = {"task": "transcribe", "language": form.get("language") or
                                "english", "duration": d, "text": text}
        if "word" in grains:
            words = text.split()
            body["words"] = [{"word": w, "start": round(i * d / len(words), 2),
                              "end": round((i + 1) * d / len(words), 2)}
                             for i, w in enumerate(words)]
        if "segment" in grains:
            body["segments"] = [{"id": 0, "seek": 0, "start": 0.0, "end": d, "text": " " + text,
                                 "tokens": [50364, 2425], "temperature": 0.0,
                                 "avg_logprob": -0.2, "compression_ratio": 0.9,
                                 "no_speech_prob": 0.01}]
        body["usage"] = usage
        return Reply(body=orjson.dumps(body))
