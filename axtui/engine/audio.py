"""What a transcription deployment takes and what it costs: the audio formats it accepts,
its largest file, and its price per second of audio or per token (audio in, text in, text
out). Config (`[deployments.audio]`) overrides a small table of known models; money is
exact (Decimal nano-dollars per second, integer femto-dollars per token).

The audio's duration: from the WAV header when the file is WAV (stdlib `wave`), else from
the answer (verbose_json's `duration`, or json's `usage.seconds`); else it is unknown and a
per-minute price cannot be counted (the record's reason says so).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from axtui.config import DeploymentConfig

MB = 1024 * 1024
OPENAI_MAX_BYTES = 25 * MB  # OpenAI's and Groq's (free tier) upload limit
# the extensions OpenAI and Groq accept, as OpenAI's error message lists them
KNOWN_FORMATS = frozenset({"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav",
                           "webm"})
_NANO_PER_USD = Decimal(1_000_000_000)
_FEMTO_PER_USD_PER_MTOK = Decimal(1_000_000_000)


@dataclass(slots=True, frozen=True)
class AudioSpec:
    formats: frozenset[str]
    max_bytes: int
    nano_per_s: Decimal | None  # per-time price, nano-dollars per second of audio
    audio_in: int  # femto-dollars per audio input token (per-token price)
    text_in: int  # femto-dollars per text input token (the prompt)
    text_out: int  # femto-dollars per output token
    min_billed_s: float = 0.0

    @property
    def per_time(self) -> bool:
        return self.nano_per_s is not None

    def takes(self, fmt: str, size: int) -> str | None:
        """Why this deployment cannot take a file of `fmt` and `size` bytes, or None."""
        if fmt not in self.formats:
            return f"takes no {fmt} audio"
        if size > self.max_bytes:
            return f"takes files up to {self.max_bytes} bytes"
        return None

    def cost_nano(self, seconds: float | None, audio_tokens: int, text_tokens: int,
                  output_tokens: int) -> int | None:
        """Exact cost, rounded half up once; None when a per-time price meets an unknown
        duration."""
        if self.nano_per_s is not None:
            if seconds is None:
                return None
            billed = Decimal(repr(max(seconds, self.min_billed_s)))
            return int((billed * self.nano_per_s).to_integral_value(ROUND_HALF_UP))
        femto = (audio_tokens * self.audio_in + text_tokens * self.text_in
                 + output_tokens * self.text_out)
        return (femto + 500_000) // 1_000_000


def _per_s(per_minute: str | Decimal | None = None, per_hour: str | Decimal | None = None
           ) -> Decimal | None:
    if per_minute is not None:
        return Decimal(per_minute) * _NANO_PER_USD / 60
    if per_hour is not None:
        return Decimal(per_hour) * _NANO_PER_USD / 3600
    return None


def _femto(usd_per_mtok: str | Decimal | None) -> int:
    return int(Decimal(usd_per_mtok or 0) * _FEMTO_PER_USD_PER_MTOK)


# model id prefix -> known terms; first match wins (public price lists, 2025)
_KNOWN: list[tuple[str, AudioSpec]] = [
    ("gpt-4o-mini-transcribe", AudioSpec(KNOWN_FORMATS, OPENAI_MAX_BYTES, None,
                                         _femto("3.00"), _femto("1.25"), _femto("5.00"))),
    ("gpt-4o-transcribe", AudioSpec(KNOWN_FORMATS, OPENAI_MAX_BYTES, None,
                                    _femto("6.00"), _femto("2.50"), _femto("10.00"))),
    ("whisper-1", AudioSpec(KNOWN_FORMATS, OPENAI_MAX_BYTES, _per_s(per_minute="0.006"),
                            0, 0, 0)),
    # Groq bills per hour of audio, at least 10 s a request
    ("whisper-large-v3-turbo", AudioSpec(KNOWN_FORMATS, OPENAI_MAX_BYTES,
                                         _per_s(per_hour="0.04"), 0, 0, 0, 10.0)),
    ("whisper-large-v3", AudioSpec(KNOWN_FORMATS, OPENAI_MAX_BYTES,
                                   _per_s(per_hour="0.111"), 0, 0, 0, 10.0)),
    ("distil-whisper-large-v3-en", AudioSpec(KNOWN_FORMATS, OPENAI_MAX_BYTES,
                                             _per_s(per_hour="0.02"), 0, 0, 0, 10.0)),
]


def known_audio(model: str) -> AudioSpec | None:
    m = model.lower().rsplit("/", 1)[-1]
    for prefix, spec in _KNOWN:
        if m.startswith(prefix):
            return spec
    return None


def audio_spec(d: DeploymentConfig) -> AudioSpec | None:
    """The deployment's transcription terms: config over the known model's; None for a
    deployment that does not transcribe."""
    base = known_audio(d.model)
    a = d.audio
    if a is None:
        return base
    formats = (frozenset(f.lower().lstrip(".") for f in a.formats) if a.formats is not None
               else base.formats if base else KNOWN_FORMATS)
    max_bytes = (int(a.max_mb * MB) if a.max_mb is not None
                 else base.max_bytes if base else OPENAI_MAX_BYTES)
    per_s = _per_s(a.per_minute, a.per_hour)
    audio_in = _femto(a.audio_input) if a.audio_input is not None else None
    if per_s is None and audio_in is None and base is not None:
        per_s, audio_in = base.nano_per_s, base.audio_in
    text_in, text_out = (base.text_in, base.text_out) if base else (0, 0)
    if d.price is not None:
        text_in, text_out = _femto(d.price.input), _femto(d.price.output)
    if per_s is None and audio_in is None:
        per_s = Decimal(0)  # no price known: priced at zero per second, like chat's unknown
    min_billed = a.min_billed_s if a.min_billed_s is not None else (
        base.min_billed_s if base else 0.0)
    return AudioSpec(formats, max_bytes, per_s, audio_in or 0, text_in, text_out, min_billed)


def wav_seconds(data: bytes) -> float | None:
    """The duration a WAV file's header gives, or None when it is not a readable WAV."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate = w.getframerate()
            return w.getnframes() / rate if rate > 0 else None
    except (wave.Error, EOFError):
        return None
