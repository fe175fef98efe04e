"""The sim's transcriptions: the same seeded draws, faults, outages and rate limits as its
chat calls (sim.py), answering with a deterministic transcript rendered in each of OpenAI's
response formats (json, text, srt, verbose_json, vtt), as OpenAI lays them out.

The transcript is filler words, spread evenly over the audio's duration: the WAV header's,
else the file's size at 128 kbit/s.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from axtui.providers.audio import (
    DELTA,
    DONE,
    TranscriptEvent,
    TranscriptionRequest,
    TranscriptionResponse,
    events_of,
)
from axtui.providers.base import ChatRequest

if TYPE_CHECKING:
    from axtui.providers.sim import SimProvider

_NO_CHAT = ChatRequest(messages=[])  # the draw's view of a transcription: no prompt
_BYTES_PER_S = 16_000  # 128 kbit/s: a compressed file's duration, roughly
_WORDS_PER_SEGMENT = 8
_WORDS_PER_S = 2.5  # speech at ~150 words a minute
_AUDIO_TOKENS_PER_S = 10  # about what gpt-4o-transcribe bills a second of audio


def audio_seconds(data: bytes, audio_format: str) -> float:
    if audio_format == "wav":
        try:
            with wave.open(io.BytesIO(data)) as w:
                if w.getframerate() > 0:
                    return w.getnframes() / w.getframerate()
        except (wave.Error, EOFError):
            pass
    return len(data) / _BYTES_PER_S


async def sim_transcribe(sim: SimProvider, request: TranscriptionRequest, model: str
                         ) -> TranscriptionResponse:
    from axtui.providers.sim import ErrorKind

    b = sim._models.get(model) or sim._default
    d = sim._draw(_NO_CHAT, b)
    fault = sim._fault(_NO_CHAT, b, d, streaming=False)
    if fault is not None:
        delay, err = fault
        await sim._wait(delay)
        raise err
    await sim._wait(b.p50_s * d.factor)
    if d.malformed:
        raise sim._error(ErrorKind.malformed, d)
    return _whole(request, request.response_format, d.rl)


def _words(request: TranscriptionRequest) -> tuple[list[str], float]:
    seconds = round(audio_seconds(request.file, request.audio_format), 2)
    n = max(2, round(seconds * _WORDS_PER_S))  # the draw's length is not used: speech sets it
    from axtui.providers.sim import filler_text

    return filler_text(n * 2).split()[:n], seconds


def _whole(request: TranscriptionRequest, fmt: str, rl: Any) -> TranscriptionResponse:
    words, seconds = _words(request)
    body = render(fmt, words, seconds, request.timestamp_granularities, request.language)
    resp = TranscriptionResponse(body, fmt, ratelimit=rl)
    if fmt in ("json", "verbose_json"):
        resp.seconds = seconds
    return resp


def streams(model: str) -> bool:
    """Whether the model streams a transcript (OpenAI's gpt-4o*-transcribe do; whisper
    ignores `stream` and answers whole)."""
    return "transcribe" in model.rsplit("/", 1)[-1].lower()


async def sim_transcribe_stream(sim: SimProvider, request: TranscriptionRequest, model: str
                                ) -> AsyncIterator[TranscriptEvent]:
    """`stream=true`: a token-billed model's transcript word by word (TTFT, then the
    profile's tokens/s), ending in the done event with token usage; a whisper model answers
    whole, as two events. A malformed draw breaks the stream half-way."""
    from axtui.providers.sim import ErrorKind

    b = sim._models.get(model) or sim._default
    d = sim._draw(_NO_CHAT, b)
    fault = sim._fault(_NO_CHAT, b, d, streaming=True)
    if fault is not None:
        delay, err = fault
        await sim.clock.sleep(delay)
        raise err
    if not streams(model):
        await sim._wait(b.p50_s * d.factor)
        if d.malformed:
            raise sim._error(ErrorKind.malformed, d)
        for event in events_of(_whole(request, "json", d.rl)):
            yield event
        return
    words, seconds = _words(request)
    await sim.clock.sleep(b.ttft_s * d.factor)
    rl, break_at = d.rl, (len(words) // 2 if d.malformed else len(words))
    for i, word in enumerate(words):
        if i:
            await sim.clock.sleep(1 / b.tokens_per_s)
        if i >= break_at:
            raise sim._error(ErrorKind.malformed, d)
        yield TranscriptEvent({"type": DELTA, "delta": (" " if i else "") + word}, rl)
        rl = None
    text = " ".join(words)
    audio = max(1, round(seconds * _AUDIO_TOKENS_PER_S))
    prompt = (len(request.prompt) + 3) // 4 if request.prompt else 0
    out = (len(text) + 3) // 4
    yield TranscriptEvent({"type": DONE, "text": text, "usage": {
        "type": "tokens", "input_tokens": audio + prompt, "output_tokens": out,
        "total_tokens": audio + prompt + out,
        "input_token_details": {"audio_tokens": audio, "text_tokens": prompt}}})


def segments(words: list[str], seconds: float) -> list[tuple[float, float, str]]:
    n = max(1, -(-len(words) // _WORDS_PER_SEGMENT))
    step = seconds / n
    out = []
    for i in range(n):
        chunk = words[i * _WORDS_PER_SEGMENT:(i + 1) * _WORDS_PER_SEGMENT]
        out.append((round(i * step, 2), round((i + 1) * step, 2), " " + " ".join(chunk)))
    return out


def render(fmt: str, words: list[str], seconds: float, granularities: list[str],
           language: str | None) -> bytes:
    """A transcript in OpenAI's layout for `fmt`."""
    text = " ".join(words)
    segs = segments(words, seconds)
    if fmt == "text":
        return (text + "\n").encode()
    if fmt == "srt":
        return "".join(f"{i}\n{_ts(a, ',')} --> {_ts(z, ',')}\n{t.strip()}\n\n"
                       for i, (a, z, t) in enumerate(segs, 1)).encode()
    if fmt == "vtt":
        return ("WEBVTT\n\n" + "".join(f"{_ts(a, '.')} --> {_ts(z, '.')}\n{t.strip()}\n\n"
                                       for a, z, t in segs)).encode()
    usage = {"type": "duration", "seconds": max(1, round(seconds))}
    if fmt == "json":
        return orjson.dumps({"text": text, "usage": usage})
    body: dict[str, Any] = {"task": "transcribe", "language": language or "english",
                            "duration": seconds, "text": text}
    if "word" in granularities:
        step = seconds / len(words)
        body["words"] = [{"word": w, "start": round(i * step, 2), "end": round((i + 1) * step, 2)}
                         for i, w in enumerate(words)]
    if not granularities or "segment" in granularities:
        body["segments"] = [
            {"id": i, "seek": 0, "start": a, "end": z, "text": t, "tokens": [],
             "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.2,
             "no_speech_prob": 0.01}
            for i, (a, z, t) in enumerate(segs)]
    body["usage"] = usage
    return orjson.dumps(body)


def _ts(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"
