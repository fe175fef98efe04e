"""The pieces under the transcription path: the multipart reader and writer, reading an
answer's duration and usage, audio prices, WAV durations, and the config's audio terms."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axtui.config import parse_config
from axtui.engine.audio import KNOWN_FORMATS, audio_spec, known_audio, wav_seconds
from axtui.engine.catalog import Catalog
from axtui.gateway.errors import ApiError
from axtui.gateway.multipart import parse_form
from axtui.providers.audio import encode_form, read_answer
from axtui.providers.errors import ProviderError
from tests.fakes.transcription_upstream import parse_multipart

from .conftest import wav

CT = b"multipart/form-data; boundary=b0undary"


def form(*parts: bytes) -> bytes:
    return b"".join(b"--b0undary\r\n" + p + b"\r\n" for p in parts) + b"--b0undary--\r\n"


def test_repeated_fields_keep_every_value_in_order():
    body = form(b'content-disposition: form-data; name="timestamp_granularities[]"\r\n\r\nword',
                b'content-disposition: form-data; name="timestamp_granularities[]"\r\n\r\n'
                b'segment')
    assert [(p.name, p.data) for p in parse_form(CT, body)] == [
        ("timestamp_granularities[]", b"word"), ("timestamp_granularities[]", b"segment")]


def test_a_file_part_keeps_its_bytes_exactly_even_crlf_and_dashes():
    data = b"\r\n--b0undar\r\n\x00\xff--"
    body = form(b'content-disposition: form-data; name="file"; filename="a \\"b\\".wav"\r\n'
                b"content-type: audio/wav\r\n\r\n" + data)
    [p] = parse_form(CT, body)
    assert (p.name, p.filename, p.content_type, p.data) == ("file", 'a "b".wav', "audio/wav",
                                                            data)


def test_a_quoted_boundary_and_an_rfc5987_filename_are_read():
    body = form(b"content-disposition: form-data; name=\"file\"; "
                b"filename*=utf-8''Zo%C3%AB.wav\r\n\r\nx")
    [p] = parse_form(b'multipart/form-data; boundary="b0undary"', body)
    assert p.filename == "Zoë.wav"


@pytest.mark.parametrize(("ctype", "body", "words"), [
    (b"multipart/form-data", b"", "no valid boundary"),
    (CT, b"garbage", "does not start with its boundary"),
    (CT, b"--b0undary\r\nno-colon\r\n\r\nx\r\n--b0undary--", "malformed header line"),
    (CT, b"--b0undary\r\ncontent-type: text/plain\r\n\r\nx\r\n--b0undary--", "form-data"),
    (CT, b"--b0undary\r\ncontent-disposition: form-data\r\n\r\nx\r\n--b0undary--",
     "no field name"),
    (CT, b"--b0undary\r\ncontent-disposition: form-data; name=a\r\n\r\nx", "closing boundary"),
])
def test_a_broken_form_is_one_400_naming_what_is_wrong(ctype, body, words):
    with pytest.raises(ApiError) as e:
        parse_form(ctype, body)
    assert e.value.status == 400 and words in e.value.message


def test_a_form_that_is_not_multipart_is_a_415():
    with pytest.raises(ApiError) as e:
        parse_form(b"application/x-www-form-urlencoded", b"a=b")
    assert e.value.status == 415


def test_the_written_form_reads_back_with_the_stdlib_parser_and_ours():
    audio = wav(0.5)
    ctype, body = encode_form([("model", "whisper-1"), ("prompt", 'say "hi"\r\nok'),
                               ("timestamp_granularities[]", "word"),
                               ("timestamp_granularities[]", "segment")],
                              "file", 'my "talk".wav', "audio/wav", audio)
    std = parse_multipart(ctype, body)
    assert std.fields == [("model", "whisper-1"), ("prompt", 'say "hi"\r\nok'),
                          ("timestamp_granularities[]", "word"),
                          ("timestamp_granularities[]", "segment")]
    assert (std.file, std.file_type) == (audio, "audio/wav")
    ours = parse_form(ctype.encode(), body)
    assert ours[-1].data == audio and ours[-1].filename == "my %22talk%22.wav"


def test_verbose_json_duration_and_token_usage_are_read_from_an_answer():
    r = read_answer(b'{"text": "hi", "duration": 12.5}', "verbose_json", 200, None)
    assert r.seconds == 12.5
    r = read_answer(b'{"text": "hi", "usage": {"type": "duration", "seconds": 4}}', "json",
                    200, None)
    assert r.seconds == 4.0
    r = read_answer(b'{"text": "hi", "usage": {"type": "tokens", "input_tokens": 30, '
                    b'"output_tokens": 5, "input_token_details": {"audio_tokens": 25, '
                    b'"text_tokens": 5}}}', "json", 200, None)
    assert (r.seconds, r.audio_tokens, r.text_tokens, r.output_tokens) == (None, 25, 5, 5)


@pytest.mark.parametrize(("raw", "fmt"), [(b'{"txt": 1}', "json"), (b"[1]", "verbose_json"),
                                          (b"\xff\xfe", "text")])
def test_an_answer_of_the_wrong_shape_is_malformed(raw, fmt):
    with pytest.raises(ProviderError) as e:
        read_answer(raw, fmt, 200, None)
    assert e.value.kind == "malformed"


def test_wav_seconds_come_from_the_header():
    assert wav_seconds(wav(1.25, rate=16000)) == 1.25
    assert wav_seconds(b"ID3 not a wav") is None


def test_known_prices_are_exact():
    assert known_audio("whisper-1").cost_nano(61.0, 0, 0, 0) == 6_100_000
    groq = known_audio("groq/whisper-large-v3")
    assert groq.cost_nano(3600.0, 0, 0, 0) == 111_000_000
    assert groq.cost_nano(1.0, 0, 0, 0) == 308_333  # billed as 10 s
    assert groq.cost_nano(None, 0, 0, 0) is None
    assert known_audio("whisper-large-v3-turbo").cost_nano(3600.0, 0, 0, 0) == 40_000_000
    assert known_audio("gpt-4o-mini-transcribe").cost_nano(None, 1_000_000, 0, 0) == 3 * 10**9


def config(audio: dict | None, model: str = "sim-stt", **kw) -> object:
    dep = {"provider": "p", "model": model, **kw}
    if audio is not None:
        dep["audio"] = audio
    return parse_config({"providers": {"p": {"protocol": "openai", "base_url": "http://x/v1"}},
                         "deployments": [dep],
                         "routes": {"r": {"candidates": [f"p/{model}"]}}}, "t.toml")


def test_config_audio_terms_make_a_transcription_deployment():
    cfg = config({"formats": ["MP3", ".wav"], "max_mb": "10", "per_hour": "0.36",
                  "min_billed_s": 5})
    [spec] = Catalog(cfg)
    assert spec.capabilities == {"transcription"}
    a = spec.audio
    assert a.formats == {"mp3", "wav"} and a.max_bytes == 10 * 1024 * 1024
    assert a.nano_per_s == Decimal(100_000) and a.min_billed_s == 5
    assert a.takes("flac", 10) == "takes no flac audio"
    assert a.takes("wav", 11 * 1024 * 1024) == f"takes files up to {10 * 1024 * 1024} bytes"


def test_a_known_model_needs_no_audio_table_and_a_chat_model_gets_none():
    [spec] = Catalog(config(None, model="whisper-1"))
    assert spec.audio == known_audio("whisper-1") and spec.audio.formats == KNOWN_FORMATS
    [chat] = Catalog(config(None, model="gpt-4o-mini"))
    assert chat.audio is None and "transcription" not in chat.capabilities
    assert audio_spec(config(None, model="gpt-4o-mini").deployments[0]) is None


def test_two_audio_prices_are_refused():
    with pytest.raises(Exception, match="one of per_minute, per_hour, audio_input"):
        config({"per_minute": "0.006", "per_hour": "0.36"})
