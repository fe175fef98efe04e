"""Streamed transcriptions on the sim, in virtual time: a gpt-4o*-transcribe deployment
streams its transcript word by word and bills tokens; a whisper one ignores `stream` and
answers whole; a deployment that fails before its first event is failed over."""

from __future__ import annotations

from axtui.clock import VirtualClock
from axtui.config import parse_config
from axtui.engine.engine import Engine, RequestContext
from axtui.providers.audio import TranscriptionRequest
from axtui.records import RequestRecord

from .conftest import wav

PROFILE = {"latency_p50_ms": 300, "latency_p95_ms": 600, "ttft_ms": 200, "tokens_per_s": 10}


def config(first_errors: float):
    return parse_config({
        "providers": {
            "down": {"protocol": "sim", "vendor": "openai",
                     "sim": {**PROFILE, "errors": {"server": first_errors}}},
            "openai": {"protocol": "sim", "vendor": "openai", "sim": PROFILE},
        },
        "deployments": [{"provider": "down", "model": "gpt-4o-mini-transcribe"},
                        {"provider": "openai", "model": "gpt-4o-mini-transcribe"},
                        {"provider": "openai", "model": "whisper-1"}],
        "routes": {
            "stt": {"candidates": ["down/gpt-4o-mini-transcribe",
                                   "openai/gpt-4o-mini-transcribe"], "strategy": "priority"},
            "stt-whisper": {"candidates": ["openai/whisper-1"]},
        },
    }, "test.toml")


def stream(route: str, first_errors: float = 0.0):
    """(event datas with their virtual arrival times, the record) of one streamed call."""
    clock = VirtualClock()
    records: list[RequestRecord] = []
    seen: list[tuple[float, dict]] = []

    async def main() -> None:
        engine = Engine(config(first_errors), clock=clock, seed=3)
        engine.on_record(records.append)
        req = TranscriptionRequest(wav(3.0), "clip.wav", "wav", model=route, stream=True)
        s = engine.transcriptions.stream(req, RequestContext())
        t0 = clock.monotonic()
        await s.start()
        async for event in s:
            seen.append((clock.monotonic() - t0, event.data))
        await engine.aclose()

    clock.run(main())
    [rec] = records
    return seen, rec


def test_a_transcribe_model_streams_word_by_word_and_bills_its_tokens():
    seen, rec = stream("stt")
    *deltas, (_, done) = seen
    assert len(deltas) == 8  # 3 s of speech at 2.5 words a second
    assert "".join(d["delta"] for _, d in deltas) == done["text"]
    times = [t for t, _ in deltas]
    assert times[0] >= 0.2 and times[-1] - times[0] >= 0.69  # ttft, then 10 tokens/s
    assert done["usage"]["type"] == "tokens" and done["usage"]["input_tokens"] == 30
    assert rec.ok and rec.stream and rec.usage.prompt_tokens == 30
    assert rec.cost_nano > 0 and rec.ttft_ms is not None


def test_whisper_ignores_stream_and_answers_in_one_delta():
    seen, rec = stream("stt-whisper")
    assert [d["type"] for _, d in seen] == ["transcript.text.delta", "transcript.text.done"]
    assert seen[0][1]["delta"] == seen[1][1]["text"]
    assert rec.cost_nano == 300_000  # 3 s at $0.006 a minute


def test_a_deployment_failing_before_its_first_event_is_failed_over():
    seen, rec = stream("stt", first_errors=1.0)
    assert [a.deployment for a in rec.attempts] == ["down/gpt-4o-mini-transcribe",
                                                     "openai/gpt-4o-mini-transcribe"]
    assert rec.attempts[0].error_kind == "server" and rec.ok
    assert seen[-1][1]["type"] == "transcript.text.done"


def test_a_caller_leaving_after_the_first_event_is_recorded_cancelled():
    clock = VirtualClock()
    records: list[RequestRecord] = []

    async def main() -> None:
        engine = Engine(config(0.0), clock=clock, seed=3)
        engine.on_record(records.append)
        req = TranscriptionRequest(wav(3.0), "clip.wav", "wav", model="stt", stream=True)
        s = engine.transcriptions.stream(req, RequestContext())
        await s.start()
        events = aiter(s)
        await anext(events)
        await s.aclose()
        assert engine.in_flight == 0
        await engine.aclose()

    clock.run(main())
    [rec] = records
    assert rec.outcome == "cancelled" and rec.attempts[0].error_kind == "cancelled"
    assert rec.attempts[0].ttft_ms is not None  # it left after the first event
