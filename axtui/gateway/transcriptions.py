"""POST /v1/audio/transcriptions: OpenAI's (and Groq's) multipart transcription API. Parse
and check the form, admit the caller's key, hand the request to the engine (routing,
failover, recording: engine/transcribe.py), answer with the upstream's body in the format
asked for and OpenAI's content type for it; with `stream=true`, OpenAI's transcript events
(engine/transcribe_stream.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import orjson

from axtui.engine.audio import KNOWN_FORMATS, OPENAI_MAX_BYTES
from axtui.engine.engine import RequestContext, RoutingError
from axtui.gateway.answering import (
    Watch,
    admit,
    context,
    own_ms,
    read_head,
    routing_error,
    shutdown,
    trail,
)
from axtui.gateway.asgi import SSE, Receive, Scope, Send, read_body, respond, respond_error
from axtui.gateway.errors import ApiError, bad_request, for_kind
from axtui.gateway.multipart import Part, boundary_of, parse_form
from axtui.gateway.services import Services, services
from axtui.gateway.wire import ChunkFrames
from axtui.providers.audio import CONTENT_TYPES, GRANULARITIES, TranscriptionRequest

if TYPE_CHECKING:
    from axtui.gateway.keys import CallerKey

log = logging.getLogger(__name__)

MAX_FORM_BYTES = OPENAI_MAX_BYTES + 1024 * 1024  # the file, and room for the other fields
_SUPPORTED = "[" + ", ".join(f"'{f}'" for f in sorted(KNOWN_FORMATS)) + "]"
_BOOLS = {"true": True, "1": True, "false": False, "0": False, "": False}
_TEXT_FIELDS = ("model", "language", "prompt", "response_format", "temperature", "user")
# a file's first bytes -> its format, for a file whose name has no known extension
_MAGIC = ((b"RIFF", "wav"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"ID3", "mp3"),
          (b"\x1aE\xdf\xa3", "webm"))


async def transcriptions(scope: Scope, receive: Receive, send: Send) -> None:
    t0 = time.perf_counter()
    gw = services(scope)
    head = read_head(gw, scope)
    key = gw.authenticate(head.auth)
    if head.ctype is None:
        raise ApiError(415, "Content-Type must be multipart/form-data",
                       code="unsupported_media_type")
    boundary_of(head.ctype)  # a wrong content type is refused before the body is read
    raw = await read_body(receive, head.clen, MAX_FORM_BYTES, gw.body_timeout_s)
    req = parse_request(parse_form(head.ctype, raw))
    ctx = context(gw, head, key, req.user)
    audio = gw.engine.transcriptions
    admit(gw, key, req.model, ctx, lambda kind, message: audio.reject(
        req, ctx, kind, message, reason="key limits").record)
    if req.stream:
        await _stream(gw, req, ctx, key, t0, receive, send)
        return
    watch = Watch(receive)
    started = False
    try:
        try:
            result = await audio.run(req, ctx)
        except RoutingError as e:
            watch.stop()
            raise routing_error(gw, e, ctx, key, t0) from None
        watch.stop()
        rec = result.record
        headers = [(b"content-type", result.response.content_type.encode())]
        headers += trail(rec, rec.deployment, len(rec.attempts), own_ms(rec, t0))
        started = True
        await respond(send, 200, result.response.body,
                      headers + gw.ratelimit_headers(ctx.user, key, ctx))
    except asyncio.CancelledError:
        if not watch.absorb() and not started:
            await respond_error(send, shutdown(ctx.request_id))
    finally:
        watch.stop()


async def _stream(gw: Services, req: TranscriptionRequest, ctx: RequestContext,
                  key: CallerKey | None, t0: float, receive: Receive, send: Send) -> None:
    """OpenAI's streamed transcription: `data: {...}` events (`transcript.text.delta`s, then
    `transcript.text.done` with the usage), as chat streams fail over until the first; an
    error after it is one `data: {"error": ...}` event, and the stream ends."""
    s = gw.engine.transcriptions.stream(req, ctx)
    watch = Watch(receive)
    started = False
    try:
        t_start = time.perf_counter()
        try:
            await s.start()
        except RoutingError as e:
            watch.stop()
            raise routing_error(gw, e, ctx, key, t0) from None
        rid = ctx.request_id or ""
        overhead = (t_start - t0) * 1000.0  # start() is all upstream time, as for chat
        headers = SSE + trail(None, s.deployment, s.attempts, overhead, rid, s.route)
        started = True
        await send({"type": "http.response.start", "status": 200,
                    "headers": headers + gw.ratelimit_headers(ctx.user, key, ctx)})
        try:
            async for event in s:
                await send({"type": "http.response.body", "more_body": True,
                            "body": b"data: " + orjson.dumps(event.data) + b"\n\n"})
        except RoutingError as e:
            watch.stop()
            err = for_kind(e.kind, e.status, e.record.error or str(e.kind))
            await send({"type": "http.response.body", "body": ChunkFrames.error(err)})
            return
        watch.stop()
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        await s.aclose()  # records `cancelled` now
        if not watch.absorb():
            err = shutdown(ctx.request_id)
            if started:
                await send({"type": "http.response.body", "body": ChunkFrames.error(err)})
            else:
                await respond_error(send, err)
    except OSError as e:  # the transport broke under a send: the client is gone
        log.debug("transcription stream %s: the client went away: %s", ctx.request_id, e)
    finally:
        watch.stop()
        if s.record is None:  # however we got here, the stream ends with its one record
            await s.aclose()


def parse_request(parts: list[Part]) -> TranscriptionRequest:
    """The form as a TranscriptionRequest, each field checked as OpenAI checks it; 400
    naming the field otherwise (413 for a file past OpenAI's 25 MB)."""
    file: Part | None = None
    fields: dict[str, str] = {}
    granularities: list[str] = []
    extra: list[tuple[str, str]] = []
    for part in parts:
        if part.name == "file":
            if file is not None:
                raise bad_request("give one file", "file")
            file = part
        elif part.name in ("timestamp_granularities[]", "timestamp_granularities"):
            granularities.append(part.text())
        elif part.name in _TEXT_FIELDS:
            if part.name in fields:
                raise bad_request(f"{part.name} is given twice", part.name)
            fields[part.name] = part.text()
        elif part.name == "stream":
            if part.name in fields:
                raise bad_request("stream is given twice", "stream")
            fields["stream"] = part.text().strip().lower()
        elif part.filename is None:
            extra.append((part.name, part.text()))  # e.g. include[], chunking_strategy
        else:
            raise bad_request(f"unexpected file field {part.name!r}", part.name)
    if file is None or file.filename is None:
        raise bad_request("you must provide a file (a form field named 'file' with a "
                          "filename)", "file")
    if len(file.data) > OPENAI_MAX_BYTES:
        raise ApiError(413, f"Maximum content size limit ({OPENAI_MAX_BYTES}) exceeded "
                       f"({len(file.data)} bytes read)", param="file")
    if not file.data:
        raise bad_request("the file is empty", "file")
    model = fields.get("model", "").strip()
    if not model:
        raise bad_request("you must provide a model parameter", "model")
    if not model.isprintable():
        raise bad_request("model holds control characters", "model")
    fmt = fields.get("response_format", "json")
    if fmt not in CONTENT_TYPES:
        raise bad_request(f"response_format {fmt!r} is not one of "
                          f"{', '.join(CONTENT_TYPES)}", "response_format")
    temperature = fields.get("temperature")
    if temperature is not None:
        try:
            t = float(temperature)
        except ValueError:
            t = -1.0
        if not 0.0 <= t <= 1.0:
            raise bad_request("temperature must be a number from 0 to 1", "temperature")
    for g in granularities:
        if g not in GRANULARITIES:
            raise bad_request(f"timestamp_granularities[] {g!r} is not one of word, segment",
                              "timestamp_granularities[]")
    if granularities and fmt != "verbose_json":
        raise bad_request("timestamp_granularities[] needs response_format verbose_json",
                          "timestamp_granularities[]")
    stream = fields.get("stream", "false")
    if stream not in _BOOLS:
        raise bad_request(f"stream {stream!r} is not a boolean (true or false)", "stream")
    if _BOOLS[stream] and fmt != "json":
        raise bad_request(f"a streamed transcription is json events: response_format {fmt!r} "
                          "cannot stream", "response_format")
    audio_format = format_of(file.filename, file.data)
    if audio_format is None:
        raise bad_request(f"Invalid file format. Supported formats: {_SUPPORTED}", "file")
    return TranscriptionRequest(
        file=file.data, filename=file.filename, audio_format=audio_format, model=model,
        file_type=file.content_type, language=fields.get("language"),
        prompt=fields.get("prompt"), response_format=fmt, temperature=temperature,
        timestamp_granularities=granularities, extra=extra, user=fields.get("user"),
        stream=_BOOLS[stream])


def format_of(filename: str, data: bytes) -> str | None:
    """The file's format: its extension when known, else its first bytes."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in KNOWN_FORMATS:
        return ext
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[4:8] == b"ftyp":
        return "mp4"
    return None
