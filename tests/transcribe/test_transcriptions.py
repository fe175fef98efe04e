"""POST /v1/audio/transcriptions through a running gateway, the official openai SDK as the
client, loopback upstreams speaking the multipart wire."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest
from openai.types.audio import Transcription, TranscriptionVerbose

from tests.gateway.harness import wait_for_records

from .conftest import WHISPER_SECRET, Env, wav

WAV = wav(2.0)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 500  # an mp3 by its first bytes


def transcribe_raw(env: Env, route: str, fmt: str, file=("speech.wav", WAV, "audio/wav"), **kw):
    return env.client().audio.transcriptions.with_raw_response.create(
        model=route, file=file, response_format=fmt, **kw)


def record_of(env: Env, raw) -> object:
    rid = raw.headers["x-request-id"]
    [rec] = wait_for_records(env.store_url, lambda r: r.id == rid)
    return rec


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "verbose_json", "vtt"])
def test_each_response_format_is_the_upstreams_body_with_openais_content_type(env: Env, fmt):
    sent = len(env.whisper.forms)
    raw = transcribe_raw(env, "stt-openai", fmt)
    assert len(env.whisper.forms) == sent + 1
    expected_type = "application/json" if "json" in fmt else "text/plain; charset=utf-8"
    assert raw.headers["content-type"] == expected_type
    body = raw.http_response.content
    assert env.whisper.render(None, None).body == body  # exactly what the upstream said
    parsed = raw.parse()
    if fmt == "json":
        assert isinstance(parsed, Transcription) and parsed.text == "Hello from whisper."
    elif fmt == "verbose_json":
        assert isinstance(parsed, TranscriptionVerbose)
        assert parsed.duration == 2.0 and parsed.segments[0].text == " Hello from whisper."
    else:
        assert isinstance(parsed, str) and "Hello from whisper." in parsed


def test_the_upstream_gets_every_field_with_the_deployments_model(env: Env):
    env.client().audio.transcriptions.create(
        model="stt-openai", file=("talk.wav", WAV, "audio/wav"), response_format="verbose_json",
        language="en", prompt="Names: Zoë, Ngozi.", temperature=0.2,
        timestamp_granularities=["word", "segment"])
    form = env.whisper.forms[-1]
    assert form.get("model") == "whisper-1"  # the deployment's model, not the route
    assert form.get("language") == "en" and form.get("prompt") == "Names: Zoë, Ngozi."
    assert float(form.get("temperature")) == 0.2
    assert form.all("timestamp_granularities[]") == ["word", "segment"]
    assert (form.filename, form.file_type, form.file) == ("talk.wav", "audio/wav", WAV)


def test_both_timestamp_granularities_come_back(env: Env):
    out = env.client().audio.transcriptions.create(
        model="stt-openai", file=("talk.wav", WAV), response_format="verbose_json",
        timestamp_granularities=["word", "segment"])
    assert [w.word for w in out.words] == ["Hello", "from", "whisper."]
    assert len(out.segments) == 1


def test_a_failing_deployment_fails_over_to_a_healthy_one(env: Env):
    raw = transcribe_raw(env, "stt", "json")
    assert raw.parse().text == "Hello from whisper."
    assert raw.headers["x-axtui-attempts"] == "2"
    assert raw.headers["x-axtui-deployment"] == "openai/whisper-1"
    rec = record_of(env, raw)
    assert [a.deployment for a in rec.attempts] == ["dead/whisper-large-v3", "openai/whisper-1"]
    assert rec.attempts[0].status == 500 and rec.attempts[0].cost_nano == 0
    assert rec.kind == "transcription" and rec.outcome == "ok"


def test_the_record_has_the_audio_seconds_and_the_per_minute_cost(env: Env):
    rec = record_of(env, transcribe_raw(env, "stt-openai", "text"))
    assert rec.kind == "transcription" and rec.audio_s == 2.0  # from the WAV header
    assert rec.cost_nano == 200_000  # 2 s at $0.006 a minute
    assert rec.usage.prompt_tokens == 0 and rec.usage.completion_tokens == 0


def test_groq_bills_at_least_ten_seconds_per_hour_price(env: Env):
    rec = record_of(env, transcribe_raw(env, "stt-groq", "json"))
    assert rec.cost_nano == 308_333  # 10 s at $0.111 an hour, rounded half up


def test_gpt_4o_transcribe_costs_its_tokens(env: Env):
    rec = record_of(env, transcribe_raw(env, "stt-4o", "json"))
    # 100 audio tokens at $6/M + 10 text tokens at $2.50/M + 50 out at $10/M
    assert rec.cost_nano == 1_125_000
    assert (rec.usage.prompt_tokens, rec.usage.completion_tokens) == (110, 50)


def test_without_a_wav_header_the_duration_comes_from_verbose_json(env: Env):
    rec = record_of(env, transcribe_raw(env, "stt-openai", "verbose_json",
                                        file=("speech.mp3", MP3, "audio/mpeg")))
    assert rec.audio_s == 2.0 and rec.cost_nano == 200_000


def test_an_unknown_duration_is_said_in_the_record_not_guessed(env: Env):
    rec = record_of(env, transcribe_raw(env, "stt-openai", "srt",
                                        file=("speech.mp3", MP3, "audio/mpeg")))
    assert rec.audio_s is None and rec.cost_nano == 0
    assert "audio duration unknown" in rec.reason


def test_a_deployment_that_cannot_take_the_format_is_skipped(env: Env):
    before = len(env.picky.forms)
    raw = transcribe_raw(env, "stt-picky", "json")
    assert raw.headers["x-axtui-deployment"] == "openai/whisper-1"
    assert raw.headers["x-axtui-attempts"] == "1"
    assert len(env.picky.forms) == before
    picked = transcribe_raw(env, "stt-picky", "json", file=("s.mp3", MP3, "audio/mpeg"))
    assert picked.parse().text == "Hello from picky."


def test_a_file_no_deployment_takes_is_refused_naming_the_size(env: Env):
    with pytest.raises(openai.BadRequestError) as e:
        transcribe_raw(env, "stt-tiny", "json")
    assert "larger than any deployment of route stt-tiny takes (1048 bytes)" in e.value.message
    assert len(env.tiny.forms) == 0


def test_a_route_without_transcription_deployments_is_refused(env: Env):
    with pytest.raises(openai.BadRequestError) as e:
        transcribe_raw(env, "chat", "json")
    assert "route chat has no transcription deployment" in e.value.message


def test_routing_rules_apply_to_transcriptions(env: Env):
    raw = transcribe_raw(env, "stt", "json", extra_headers={"x-axtui-tags": "groq"})
    assert raw.parse().text == "Hello from groq."
    rec = record_of(env, raw)
    assert (rec.requested_route, rec.route, rec.tags) == ("stt", "stt-groq", ["groq"])
    assert rec.reason.startswith("rule 0 → stt-groq")


def test_a_chat_request_to_a_transcription_route_is_refused_not_sent(env: Env):
    before = len(env.whisper.requests)
    with pytest.raises(openai.BadRequestError) as e:
        env.client().chat.completions.create(
            model="stt-openai", messages=[{"role": "user", "content": "hi"}])
    assert "route stt-openai only transcribes" in e.value.message
    assert len(env.whisper.requests) == before


def test_the_upstream_key_reaches_the_upstream_and_never_the_record(env: Env):
    raw = transcribe_raw(env, "stt-openai", "json")
    rec = record_of(env, raw)
    assert WHISPER_SECRET not in orjson.dumps(rec.model_dump(mode="json")).decode()


# ---------------------------------------------------------------- bad input


def post(env: Env, files=None, data=None, timeout: float = 10, **kw) -> httpx.Response:
    return httpx.post(f"{env.url}/v1/audio/transcriptions", files=files, data=data,
                      timeout=timeout, **kw)


def error_of(resp: httpx.Response) -> dict:
    return resp.json()["error"]


@pytest.mark.parametrize(("files", "data", "param", "words"), [
    (None, {"model": "stt-openai"}, "file", "provide a file"),
    ({"file": ("a.wav", WAV)}, {}, "model", "provide a model"),
    ({"file": ("a.wav", WAV)}, {"model": "stt-openai", "response_format": "xml"},
     "response_format", "'xml' is not one of"),
    ({"file": ("notes.txt", b"hello")}, {"model": "stt-openai"}, "file",
     "Invalid file format. Supported formats: ['flac', 'm4a'"),
    ({"file": ("a.wav", WAV)}, {"model": "stt-openai", "temperature": "3"}, "temperature",
     "from 0 to 1"),
    ({"file": ("a.wav", WAV)}, {"model": "stt-openai", "timestamp_granularities[]": "word"},
     "timestamp_granularities[]", "needs response_format verbose_json"),
    ({"file": ("a.wav", WAV)}, {"model": "stt-openai", "stream": "yes"}, "stream",
     "'yes' is not a boolean"),
    ({"file": ("a.wav", WAV)}, {"model": "stt-openai", "stream": "true",
                                "response_format": "srt"}, "response_format",
     "'srt' cannot stream"),
])
def test_each_mistake_is_a_400_naming_the_field(env: Env, files, data, param, words):
    resp = post(env, files=files if files is not None else {"x": (None, "y")}, data=data)
    assert resp.status_code == 400
    err = error_of(resp)
    assert err["param"] == param and words in err["message"]
    assert err["type"] == "invalid_request_error"


def test_a_broken_multipart_body_is_a_400_not_a_traceback(env: Env):
    body = b'--xyz\r\ncontent-disposition: form-data; name="model"\r\n\r\nstt-openai\r\n'
    resp = httpx.post(f"{env.url}/v1/audio/transcriptions", content=body, timeout=10,
                      headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert resp.status_code == 400
    assert "without its closing boundary" in error_of(resp)["message"]


def test_json_is_not_a_transcription_request(env: Env):
    resp = httpx.post(f"{env.url}/v1/audio/transcriptions", json={"model": "stt"}, timeout=10)
    assert resp.status_code == 415
    assert "multipart/form-data" in error_of(resp)["message"]


def test_a_file_past_openais_25_mb_is_a_413(env: Env):
    big = b"RIFF" + b"\0" * (25 * 1024 * 1024)
    resp = post(env, files={"file": ("big.wav", big)}, data={"model": "stt-openai"})
    assert resp.status_code == 413
    assert "Maximum content size limit (26214400) exceeded" in error_of(resp)["message"]


def test_a_caller_who_leaves_mid_transcription_is_recorded_cancelled(env: Env):
    with pytest.raises(httpx.ReadTimeout):
        post(env, files={"file": ("a.wav", WAV)}, data={"model": "stt-slow"}, timeout=0.5)
    [rec] = wait_for_records(env.store_url, lambda r: r.route == "stt-slow")
    assert rec.kind == "transcription" and rec.outcome == "cancelled" and rec.status == 499
    assert rec.attempts[0].error_kind == "cancelled"
