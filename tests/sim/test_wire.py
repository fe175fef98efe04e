"""Each vendor's wire format as the sim writes it, without a server."""

from __future__ import annotations

import orjson
import pytest

from axtui.sim.wire import Call, Refusal, make_answer, wire_for


def _call(protocol: str, **kw) -> Call:
    return Call(model="m", stream=True, prompt_tokens=5, **kw)


@pytest.mark.parametrize(("protocol", "last"), [
    ("openai", b"data: [DONE]\n\n"),
    ("anthropic", b'event: message_stop\ndata: {"type":"message_stop"}\n\n'),
    ("cohere", b"event: message-end\n"),
])
def test_a_stream_ends_with_the_vendors_terminator(protocol: str, last: bytes) -> None:
    call = _call(protocol)
    frames = wire_for(protocol).frames(call, make_answer(call, "r1", 3, 0))
    assert frames[-1].startswith(last)


def test_a_gemini_stream_without_alt_sse_is_one_json_array() -> None:
    call = _call("gemini", sse=False)
    frames = wire_for("gemini").frames(call, make_answer(call, "r1", 3, 0))
    events = orjson.loads(b"".join(frames))
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == [
        "the ", "quick ", "brown "]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_a_gemini_sse_stream_is_framed_with_crlf() -> None:
    call = _call("gemini", sse=True)
    frames = wire_for("gemini").frames(call, make_answer(call, "r1", 2, 0))
    assert all(f.startswith(b"data: ") and f.endswith(b"\r\n\r\n") for f in frames)


def test_the_answer_continues_the_word_list_from_the_call_number() -> None:
    call = Call(model="m", stream=False, prompt_tokens=1)
    assert make_answer(call, "r", 2, 1).text == "quick brown "


@pytest.mark.parametrize(("protocol", "path"), [
    ("openai", "/v1/completions"), ("anthropic", "/v1/complete"),
    ("gemini", "/v1beta/models/m:embedContent"), ("cohere", "/v1/chat")])
def test_an_unknown_path_is_the_vendors_404(protocol: str, path: str) -> None:
    refusal = wire_for(protocol).read("POST", path, {}, {"anthropic-version": "x"}, {})
    assert isinstance(refusal, Refusal) and refusal.status == 404
    assert orjson.loads(refusal.body)


def test_geminis_429_names_the_retry_delay() -> None:
    _, body = wire_for("gemini").rate_limited(
        status=429, retry_after_s=1.5, remaining=0, reset_s=None, limit=10, model="m",
        now=0.0, request_id="r")
    err = orjson.loads(body)["error"]
    assert (err["code"], err["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"} in (
        err["details"])
