"""Property-based fuzzing (hypothesis, a few seconds) of POST /v1/messages: Anthropic-shaped
bodies with any JSON value in any field are translated or refused with a 400, and the
served gateway answers each with a 2xx or a 4xx in Anthropic's error body; never a 500, a
traceback or a dropped connection. `AXTUI_FUZZ_SCALE=20` runs 20x as many, fresh."""

from __future__ import annotations

import httpx
import orjson
from hypothesis import given
from hypothesis import strategies as st

from axtui.engine.tokens import complexity, estimate_prompt
from axtui.gateway.anthropic_request import parse_messages
from axtui.gateway.errors import ApiError

from .conftest import KEYS, Env
from .test_fuzz import bounded, json_values, maybe

source = st.fixed_dictionaries({"type": maybe(st.sampled_from(["base64", "url", "file"]))},
                               optional={"media_type": maybe(st.just("image/png")),
                                         "data": maybe(st.just("AAAA")),
                                         "url": maybe(st.just("https://example.com/a.png"))})
inner = st.fixed_dictionaries({"type": maybe(st.sampled_from(["text", "image"]))}, optional={
    "text": maybe(st.text(max_size=12)), "source": maybe(source)})
blocks = st.fixed_dictionaries({"type": maybe(st.sampled_from(
    ["text", "image", "tool_use", "tool_result", "thinking", "document", ""]))}, optional={
    "text": maybe(st.text(max_size=20)),
    "source": maybe(source),
    "id": maybe(st.just("toolu_1")), "name": maybe(st.just("f")),
    "input": maybe(st.dictionaries(st.text(max_size=4), json_values, max_size=2)),
    "tool_use_id": maybe(st.just("toolu_1")), "is_error": maybe(st.booleans()),
    "content": maybe(st.text(max_size=10) | st.lists(inner, max_size=2)),
    "cache_control": json_values,
})
turns = st.lists(st.fixed_dictionaries({
    "role": maybe(st.sampled_from(["user", "assistant", "system"])),
}, optional={"content": maybe(st.text(max_size=30) | st.lists(blocks, max_size=3))}),
    max_size=4)
tools = st.lists(st.fixed_dictionaries({"name": maybe(st.from_regex(r"[a-z_]{1,10}",
                                                                     fullmatch=True))},
                                       optional={"type": maybe(st.just("custom")),
                                                 "input_schema": json_values,
                                                 "description": json_values}), max_size=2)
bodies = st.fixed_dictionaries({
    "model": maybe(st.sampled_from(["chat", "claude", "gemini"]) | st.text(max_size=10)),
    "max_tokens": maybe(st.integers(0, 64)),
    "messages": maybe(turns),
}, optional={
    "system": maybe(st.text(max_size=10) | st.lists(inner, max_size=2)),
    "temperature": json_values, "top_p": json_values, "top_k": json_values,
    "stop_sequences": json_values, "tools": maybe(tools),
    "tool_choice": maybe(st.fixed_dictionaries({"type": st.sampled_from(
        ["auto", "any", "tool", "none"])}, optional={"name": maybe(st.just("f"))})),
    "output_config": json_values, "metadata": json_values, "stream": maybe(st.booleans()),
    "thinking": json_values,
})


@bounded(150)
@given(bodies)
def test_the_translation_accepts_or_refuses_with_a_400_and_never_raises_anything_else(body):
    try:
        call = parse_messages(orjson.dumps(body))
    except ApiError as e:
        assert e.status == 400 and e.message
        return
    tokens, _, text = estimate_prompt(call.request)  # what the engine does first with it
    assert tokens >= 0 and complexity(tokens, call.request, text)


AUTH = {"x-api-key": KEYS["alice"], "content-type": "application/json"}


def _answered_cleanly(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        body = r.json()
        assert body["type"] == "error" and body["error"]["message"] and body["error"]["type"]
    assert "Traceback" not in r.text


@bounded(50)
@given(body=bodies)
def test_the_gateway_answers_every_messages_body_with_a_2xx_or_4xx(env: Env, body):
    with httpx.Client(base_url=env.url, timeout=15) as c:
        _answered_cleanly(c.post("/v1/messages", content=orjson.dumps(body), headers=AUTH))


@bounded(40)
@given(raw=st.binary(max_size=200), path=st.sampled_from(["/v1/messages",
                                                          "/v1/messages/count_tokens"]))
def test_the_gateway_answers_any_bytes_with_an_anthropic_400(env: Env, raw, path):
    with httpx.Client(base_url=env.url, timeout=15) as c:
        _answered_cleanly(c.post(path, content=raw, headers=AUTH))
