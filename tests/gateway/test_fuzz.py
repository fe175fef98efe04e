"""Property-based fuzzing (hypothesis), bounded to a few seconds: the request parser and the
real gateway answer every input with a 2xx or a 4xx carrying OpenAI's error body; never a
500, a traceback or a dropped connection.

Inputs are request-shaped (so they reach deep into validation and the engine, including the
Anthropic and Gemini translations) with any JSON value in any field, plus raw bytes.
The suite runs the same examples every time; `AXTUI_FUZZ_SCALE=20` runs 20x as many, fresh."""

from __future__ import annotations

import os

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axtui.engine.tokens import complexity, estimate_prompt
from axtui.gateway.errors import ApiError
from axtui.gateway.wire import parse_chat

from .conftest import KEYS, Env

SCALE = int(os.environ.get("AXTUI_FUZZ_SCALE", "1"))


def bounded(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=SCALE == 1,
                    suppress_health_check=[HealthCheck.too_slow])


# any JSON value, a little nested; keys and strings include control and non-ASCII characters
scalars = st.none() | st.booleans() | st.integers(-2**40, 2**40) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


def maybe(values: st.SearchStrategy) -> st.SearchStrategy:
    """Usually a plausible value, sometimes any JSON value at all."""
    return st.one_of(values, values, json_values)


parts = st.fixed_dictionaries({"type": maybe(st.sampled_from(
    ["text", "image_url", "input_audio", "file", "refusal", "video", ""]))}, optional={
    "text": maybe(st.text(max_size=20)),
    "image_url": maybe(st.fixed_dictionaries({"url": maybe(st.just("data:image/png;base64,AA"))})),
    "input_audio": maybe(st.fixed_dictionaries({"data": st.just("AA"), "format": st.just("wav")})),
    "file": maybe(st.fixed_dictionaries({"file_id": st.just("file-1")})),
    "refusal": maybe(st.text(max_size=10)),
})
tool_calls = st.lists(st.fixed_dictionaries({}, optional={
    "id": maybe(st.just("call_1")), "type": maybe(st.just("function")),
    "function": maybe(st.fixed_dictionaries({"name": maybe(st.just("f"))}, optional={
        "arguments": maybe(st.just('{"a": 1}'))}))}), max_size=2)
messages = st.lists(st.fixed_dictionaries({
    "role": maybe(st.sampled_from(["system", "developer", "user", "assistant", "tool"])),
}, optional={
    "content": maybe(st.text(max_size=30) | st.lists(parts, max_size=3)),
    "name": maybe(st.text(max_size=8)),
    "tool_calls": maybe(tool_calls),
    "tool_call_id": maybe(st.just("call_1")),
}), max_size=4)
tools = st.lists(st.fixed_dictionaries({"type": maybe(st.just("function")), "function": maybe(
    st.fixed_dictionaries({"name": maybe(st.from_regex(r"[a-z_]{1,10}", fullmatch=True))},
                          optional={"parameters": json_values}))}), max_size=2)
bodies = st.fixed_dictionaries({
    "model": maybe(st.sampled_from(["chat", "claude", "gemini"]) | st.text(max_size=10)),
    "messages": maybe(messages),
}, optional={
    "n": json_values, "max_tokens": maybe(st.integers(0, 64)), "temperature": json_values,
    "top_p": json_values, "stop": json_values, "tools": maybe(tools),
    "tool_choice": maybe(st.sampled_from(["auto", "none", "required"])),
    "response_format": maybe(st.fixed_dictionaries({"type": st.sampled_from(
        ["text", "json_object", "json_schema"])})),
    "stream": maybe(st.booleans()), "stream_options": json_values, "user": json_values,
    "metadata": json_values,
})


@bounded(150)
@given(bodies)
def test_the_parser_accepts_or_refuses_with_a_400_and_never_raises_anything_else(body):
    try:
        call = parse_chat(orjson.dumps(body))
    except ApiError as e:
        assert e.status == 400 and e.message
        return
    tokens, _, text = estimate_prompt(call.request)  # what the engine does first with it
    assert tokens >= 0 and complexity(tokens, call.request, text)


@bounded(200)
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_the_parser_refuses_bytes_that_are_not_a_request_with_a_400(raw: bytes):
    try:
        parse_chat(raw)
    except ApiError as e:
        assert e.status == 400


AUTH = {"authorization": f"Bearer {KEYS['alice']}", "content-type": "application/json"}
latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                 max_size=16).map(lambda t: t.strip(" \t") or "t")  # as h11 can send it


def _answered_cleanly(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        err = r.json()["error"]
        assert set(err) == {"message", "type", "code", "param"} and err["message"]
    assert "Traceback" not in r.text


@bounded(60)
@given(body=bodies, tags=st.none() | latin1)
def test_the_gateway_answers_every_request_shaped_body_with_a_2xx_or_4xx(env: Env, body,
                                                                         tags):
    headers = AUTH if tags is None else {**AUTH, "x-axtui-tags": tags.encode("latin-1")}
    with httpx.Client(base_url=env.url, timeout=15) as c:
        _answered_cleanly(c.post("/v1/chat/completions", content=orjson.dumps(body),
                                 headers=headers))


@bounded(40)
@given(raw=st.binary(max_size=200), ctype=st.sampled_from(
    ["application/json", "text/plain", "application/json; charset=latin-1"]),
    path=st.sampled_from(["/v1/chat/completions", "/chat/completions", "/v1/models",
                          "/v1/models/chat", "/admin/status", "/readyz", "/v1/%00"]))
def test_the_gateway_answers_any_bytes_on_any_path_with_a_2xx_or_4xx(env: Env, raw, ctype,
                                                                     path):
    with httpx.Client(base_url=env.url, timeout=15) as c:
        _answered_cleanly(c.post(path, content=raw, headers={**AUTH, "content-type": ctype}))
