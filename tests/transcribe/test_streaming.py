"""Streamed transcriptions (`stream=true`) through a running gateway, the official openai
SDK's `audio.transcriptions.create(..., stream=True)` as the client: OpenAI's events, failover
before the first event, a whisper upstream that ignores `stream`, a stream cut after its
first event."""

from __future__ import annotations

import openai
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent

from tests.gateway.harness import wait_for_records

from .conftest import Env, wav

WAV = wav(2.0)


def stream_raw(env: Env, route: str):
    return env.client().audio.transcriptions.with_raw_response.create(
        model=route, file=("speech.wav", WAV, "audio/wav"), stream=True)


def record_of(env: Env, rid: str):
    [rec] = wait_for_records(env.store_url, lambda r: r.id == rid)
    return rec


def test_a_streamed_transcription_is_deltas_then_done_with_the_usage(env: Env):
    raw = stream_raw(env, "stt-4o")
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = list(raw.parse())
    *deltas, done = events
    assert all(isinstance(e, TranscriptionTextDeltaEvent) for e in deltas) and len(deltas) > 1
    assert isinstance(done, TranscriptionTextDoneEvent)
    assert "".join(d.delta for d in deltas) == done.text == "Hello from gpt-4o."
    assert (done.usage.input_tokens, done.usage.output_tokens) == (110, 50)
    assert env.gpt4o.forms[-1].get("stream") == "true"


def test_a_streamed_transcription_is_recorded_with_its_tokens_cost_and_first_event(env: Env):
    raw = stream_raw(env, "stt-4o")
    list(raw.parse())
    rec = record_of(env, raw.headers["x-request-id"])
    assert rec.kind == "transcription" and rec.stream and rec.outcome == "ok"
    assert (rec.usage.prompt_tokens, rec.usage.completion_tokens) == (110, 50)
    assert rec.cost_nano == 1_125_000  # as the same answer unstreamed
    assert rec.ttft_ms is not None and rec.audio_s == 2.0


def test_a_failing_deployment_fails_over_before_the_first_event(env: Env):
    raw = stream_raw(env, "stt-4o-failover")
    assert raw.headers["x-axtui-attempts"] == "2"
    assert raw.headers["x-axtui-deployment"] == "openai4o/gpt-4o-transcribe"
    assert list(raw.parse())[-1].text == "Hello from gpt-4o."
    rec = record_of(env, raw.headers["x-request-id"])
    assert [a.deployment for a in rec.attempts] == ["dead/whisper-large-v3",
                                                     "openai4o/gpt-4o-transcribe"]
    assert rec.attempts[0].status == 500 and rec.outcome == "ok"


def test_whisper_ignoring_stream_comes_back_as_one_delta_and_done(env: Env):
    raw = stream_raw(env, "stt-openai")
    events = list(raw.parse())
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.done"]
    assert events[0].delta == events[1].text == "Hello from whisper."
    rec = record_of(env, raw.headers["x-request-id"])
    assert rec.cost_nano == 200_000  # 2 s at $0.006 a minute, as unstreamed


def test_a_stream_cut_after_its_first_event_ends_in_an_error_and_is_recorded_interrupted(
        env: Env):
    raw = stream_raw(env, "stt-cut")
    seen = []
    try:
        for event in raw.parse():
            seen.append(event)
        raise AssertionError("the cut stream ended without an error")
    except openai.APIError as e:
        assert "stream failed after first event" in e.message
    assert [e.type for e in seen] == ["transcript.text.delta"]
    rec = record_of(env, raw.headers["x-request-id"])
    assert rec.outcome == "interrupted" and rec.error_kind == "interrupted"
