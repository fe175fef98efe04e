"""The sim's transcriptions: the same seeded draws, faults, outages and rate limits as its
chat calls (sim.py), answering with a deterministic transcript rendered in each of OpenAI's
response formats (json, text, srt, verbose_json, vtt), as OpenAI lays them out.

The transcript is filler words, spread evenly over the audio's duration: the WAV header's,
else the file's size at 128 kbit/s.
"""

from __future__ import annotations

import io
import wave
from typing import TYPE_CHECKING, Any

import orjson

from axtui.providers.audio import TranscriptionRequest, TranscriptionResponse
from axtui.providers.base import ChatRequest

if TYPE_CHECKING:
    from axtui.providers.sim import SimProvider

_NO_CHAT = ChatRequest(messages=[])  # the draw's view of a transcription: no prompt
_BYTES_PER_S = 16_000  # 128 kbit/s: a compressed file's duration, roughly
_WORDS_PER_SEGMENT = 8
_WORDS_PER_S = 2.5  # speech at ~150 words a minute


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
    from axtui.providers.sim import ErrorKind, filler_text

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
    seconds = round(audio_seconds(request.file, request.audio_format), 2)
    n = max(2, round(seconds * _WORDS_PER_S))  # the draw's length is not used: speech sets it
    words = filler_text(n * 2).split()[:n]
    body = render(request.response_format, words, seconds, request.timestamp_granularities,
                  request.language)
    resp = TranscriptionResponse(body, request.response_format, ratelimit=d.rl)
    if request.response_format in ("json", "verbose_json"):
        resp.seconds = seconds
    return resp


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
