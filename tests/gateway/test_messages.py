"""POST /v1/messages, Anthropic's Messages API, with the official `anthropic` SDK as the
client: the same routes and engine as chat, whichever provider serves (OpenAI-protocol,
Anthropic, Gemini upstreams on loopback), Anthropic's stream events, errors as the SDK's
exception classes, and records that say the request came through the Anthropic face."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.loopback import ToolCall
from tests.fakes.openai_upstream import OpenAIUpstream

from .conftest import KEY_ENV, KEYS, UPSTREAM_KEY_ENV, Env, config_data
from .harness import (
    ADMIN_ENV,
    ADMIN_TOKEN,
    Failing,
    LoopThread,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
    wait_for_records,
)

WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    """conftest's gateway, its deployments able to see images, and a route `down` whose
    one upstream always answers 503; `claude` priced for cache reads and writes."""
    loop = LoopThread()
    os.environ[UPSTREAM_KEY_ENV] = "sk-unused-0123456789"
    fakes = {
        "a": OpenAIUpstream(reply_text="Hello from upstream A."),
        "b": OpenAIUpstream(reply_text="Hello from upstream B."),
        "claude": AnthropicUpstream(reply_text="Bonjour from Claude."),
        "gem": GeminiUpstream(reply_text="Hallo from Gemini."),
        "limited": Failing(429, {"retry-after": "7"}),
        "slow": OpenAIUpstream(latency_s=1.5),
        "leaky": OpenAIUpstream(),
    }
    down = Failing(503)
    for f in [*fakes.values(), down]:
        loop.run(f.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('messages')}/gw.db"
    data = config_data(fakes, store_url)
    for d in data["deployments"]:
        d["capabilities"] = [*d["capabilities"], "vision", "json_schema"]
        if d["provider"] == "claude":  # Anthropic's ratios: reads 0.1x input, writes 1.25x
            d["price"] = {**d["price"], "cached_input": "0.1", "cache_write_input": "1.25"}
    data["providers"]["down"] = openai_provider(down.base_url)
    data["deployments"].append({**data["deployments"][0], "provider": "down", "model": "d"})
    data["routes"]["down"] = {"candidates": ["down/d"], "max_attempts": 2}
    data["routes"]["claude-cached"] = {"candidates": ["claude/claude-3-5-haiku-latest"],
                                       "cache": {}}
    environ = {KEY_ENV[n]: k for n, k in KEYS.items()} | {ADMIN_ENV: ADMIN_TOKEN}
    served = loop.run(start_gateway(make_config(data), store_url, environ))
    try:
        yield Env(loop, served, **fakes)
    finally:
        loop.run(stop_gateway(served))
        for f in [*fakes.values(), down]:
            loop.run(f.close())
        loop.close()
        os.environ.pop(UPSTREAM_KEY_ENV, None)


def client(env: Env, key: str | None = KEYS["alice"], **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=env.url, api_key=key, max_retries=0,
                               timeout=kw.pop("timeout", 15), **kw)


def hi(**kw: Any) -> dict[str, Any]:
    return {"max_tokens": 200, "messages": [{"role": "user", "content": "hi"}], **kw}


def upstream_body(env_upstream: Any) -> dict[str, Any]:
    return env_upstream.requests[-1].body


# ---------------------------------------------------------------------- plain answers


def test_a_message_routed_to_an_openai_upstream_comes_back_as_an_anthropic_message(env):
    msg = client(env).messages.create(model="chat", **hi())
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.model == "chat"  # the route asked for, as chat answers
    assert msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Hello from upstream A."
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


def test_system_parameters_and_metadata_reach_the_upstream_in_its_own_shape(env):
    client(env).messages.create(  # this SDK no longer has sampling parameters; older ones do
        model="chat", system="Be brief.", extra_body={"temperature": 0.3, "top_p": 0.9},
        stop_sequences=["\n\nHuman:"], metadata={"user_id": "u-42"}, **hi(max_tokens=77))
    sent = upstream_body(env.a)
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "hi"}]
    assert sent["max_tokens"] == 77
    assert sent["temperature"] == 0.3 and sent["top_p"] == 0.9
    assert sent["stop"] == ["\n\nHuman:"]
    assert sent["user"] == "u-42"


def test_system_blocks_become_one_system_message_with_their_text(env):
    client(env).messages.create(model="chat", system=[
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
    ], **hi())
    assert upstream_body(env.a)["messages"][0] == {"role": "system", "content": [
        {"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}]}


def test_a_message_served_by_an_anthropic_upstream_reports_its_cache_reads(env):
    env.claude.answer("Cached hello.", prompt_tokens=120, cached_tokens=100)
    msg = client(env).messages.create(model="claude", **hi())
    assert msg.content[0].text == "Cached hello."
    assert msg.usage.cache_read_input_tokens == 100
    assert msg.usage.input_tokens == 20  # Anthropic's input_tokens exclude the cache reads
    assert msg.usage.cache_creation_input_tokens == 0


def test_an_anthropic_upstream_that_stopped_on_a_sequence_says_which(env):
    env.claude.answer("one, two", stop_sequence="three")
    msg = client(env).messages.create(model="claude", stop_sequences=["three"], **hi())
    assert upstream_body(env.claude)["stop_sequences"] == ["three"]
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "three")


def test_an_anthropic_upstreams_cache_writes_are_reported_and_recorded(env):
    env.claude.answer("Written.", prompt_tokens=700, completion_tokens=10, cached_tokens=100,
                      cache_write_tokens=500)
    raw = client(env).messages.with_raw_response.create(model="claude", **hi())
    usage = raw.parse().usage
    assert (usage.input_tokens, usage.cache_read_input_tokens,
            usage.cache_creation_input_tokens) == (100, 100, 500)
    rid = raw.headers["x-request-id"]
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    assert rec.usage is not None
    assert (rec.usage.prompt_tokens, rec.usage.cache_write_tokens) == (700, 500)
    # per Mtok $1 input, $0.10 cache read, $1.25 cache write, $2 output (the env's price):
    # 100 * 1 + 100 * 0.1 + 500 * 1.25 + 10 * 2 = $755 / 1e6
    assert rec.cost_nano == 755_000


def test_a_cache_hit_reports_the_original_usage_cache_writes_included_at_zero_cost(env):
    env.claude.answer("Written.", prompt_tokens=700, completion_tokens=10, cached_tokens=100,
                      cache_write_tokens=500)
    ask = hi(extra_body={"temperature": 0},
             messages=[{"role": "user", "content": "cache me, writes and all"}])
    first = client(env).messages.with_raw_response.create(model="claude-cached", **ask)
    again = client(env).messages.with_raw_response.create(model="claude-cached", **ask)
    assert again.headers["x-axtui-cache"] == "hit"
    assert again.parse().usage == first.parse().usage
    assert again.parse().usage.cache_creation_input_tokens == 500
    rid = again.headers["x-request-id"]
    [hit] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    assert hit.cache == "exact" and hit.cost_nano == 0
    assert (hit.usage.prompt_tokens, hit.usage.cached_prompt_tokens,
            hit.usage.cache_write_tokens) == (700, 100, 500)
    assert hit.optimal_cost_nano == 755_000  # the saving: what the original answer cost


def test_the_openai_face_keeps_finish_reason_stop_for_a_stop_sequence(env):
    env.claude.answer("one, two", stop_sequence="three")
    resp = env.client().chat.completions.create(
        model="claude", stop=["three"], messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.content == "one, two"


def test_a_message_served_by_gemini_comes_back_the_same_way(env):
    msg = client(env).messages.create(model="gemini", **hi())
    assert msg.content[0].text == "Hallo from Gemini."
    assert msg.stop_reason == "end_turn"


def test_an_answer_cut_by_max_tokens_says_max_tokens(env):
    env.a.answer("a long answer", finish_reason="length")
    msg = client(env).messages.create(model="chat", **hi())
    assert msg.stop_reason == "max_tokens"


def test_the_caller_key_may_come_as_a_bearer_token(env):
    c = anthropic.Anthropic(base_url=env.url, auth_token=KEYS["alice"], max_retries=0)
    assert c.messages.create(model="chat", **hi()).content[0].text == "Hello from upstream A."


def test_parameters_no_provider_is_told_are_named_in_a_header(env):
    raw = client(env).messages.with_raw_response.create(
        model="chat", extra_body={"top_k": 5}, **hi(messages=[{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]))
    assert raw.headers["x-axtui-ignored"] == "cache_control,top_k"  # blocks first
    assert raw.headers["x-axtui-route"] == "chat"
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert "top_k" not in upstream_body(env.a)


def test_a_json_schema_output_format_reaches_the_upstream_as_response_format(env):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    client(env).messages.create(model="chat", output_config={
        "format": {"type": "json_schema", "schema": schema}}, **hi())
    assert upstream_body(env.a)["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "output", "schema": schema,
                                               "strict": True}}


# ---------------------------------------------------------------------- images


def test_base64_and_url_images_reach_an_openai_upstream_as_image_parts(env):
    client(env).messages.create(model="chat", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What are these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]}])
    parts = upstream_body(env.a)["messages"][0]["content"]
    assert parts == [
        {"type": "text", "text": "What are these?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]


def test_an_image_reaches_an_anthropic_upstream_as_an_image_block_again(env):
    client(env).messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]}])
    block = upstream_body(env.claude)["messages"][0]["content"][0]
    assert block == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": PNG}}


# ---------------------------------------------------------------------- tools


def test_a_tool_call_round_trip_through_an_openai_upstream(env):
    c = client(env)
    env.a.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_w1")])
    ask = {"role": "user", "content": "Weather in Paris?"}
    first = c.messages.create(model="chat", max_tokens=100, messages=[ask], tools=[WEATHER],
                              tool_choice={"type": "any"})
    sent = upstream_body(env.a)
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER["input_schema"],
        "description": "The weather in a city"}}]
    assert sent["tool_choice"] == "required"
    assert first.stop_reason == "tool_use"
    [use] = first.content
    assert (use.type, use.id, use.name, use.input) == ("tool_use", "call_w1", "get_weather",
                                                       {"city": "Paris"})
    env.a.answer("It is sunny in Paris.")
    second = c.messages.create(model="chat", max_tokens=100, tools=[WEATHER], messages=[
        ask, {"role": "assistant", "content": first.content},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"},
            {"type": "text", "text": "Thanks!"}]}])
    assert second.content[0].text == "It is sunny in Paris."
    assert upstream_body(env.a)["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_w1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21 C"},
        {"role": "user", "content": [{"type": "text", "text": "Thanks!"}]},
    ]


def test_tool_choice_maps_to_the_openai_choices(env):
    c = client(env)
    for choice, sent in [({"type": "auto"}, "auto"), ({"type": "none"}, "none"),
                         ({"type": "tool", "name": "get_weather"},
                          {"type": "function", "function": {"name": "get_weather"}})]:
        c.messages.create(model="chat", tools=[WEATHER], tool_choice=choice, **hi())
        assert upstream_body(env.a)["tool_choice"] == sent


def test_a_failed_tool_result_says_so_in_its_text(env):
    client(env).messages.create(model="chat", max_tokens=50, tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather",
                                           "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": True,
                                      "content": [{"type": "text", "text": "timeout"}]}]}])
    assert upstream_body(env.a)["messages"][2] == {"role": "tool", "tool_call_id": "t1",
                                                   "content": "Error: timeout"}


def test_a_streamed_tool_call_arrives_as_a_tool_use_block_with_its_input(env):
    env.a.answer("Let me check.", tool_calls=[ToolCall("get_weather", {"city": "Rome"},
                                                       id="call_r")])
    with client(env).messages.stream(model="chat", tools=[WEATHER], **hi()) as s:
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Let me check."
    assert (final.content[1].id, final.content[1].input) == ("call_r", {"city": "Rome"})
    assert final.stop_reason == "tool_use"


# ---------------------------------------------------------------------- streams


def test_a_stream_gives_the_text_and_a_final_message_with_usage(env):
    with client(env).messages.stream(model="chat", **hi()) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello from upstream A."
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_a_stream_sends_anthropics_events_in_order(env):
    with httpx.stream("POST", f"{env.url}/v1/messages", timeout=15,
                      headers={"x-api-key": KEYS["alice"], "anthropic-version": "2023-06-01"},
                      json={"model": "chat", "stream": True, **hi()}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        names = [line[len("event: "):] for line in r.iter_lines() if line.startswith("event: ")]
    deltas = names.count("content_block_delta")
    assert deltas >= 1
    assert names == ["message_start", "ping", "content_block_start",
                     *["content_block_delta"] * deltas, "content_block_stop", "message_delta",
                     "message_stop"]


def test_a_stream_served_by_an_anthropic_upstream_reports_its_cache_reads(env):
    env.claude.answer("Streamed and cached.", prompt_tokens=50, cached_tokens=40)
    with client(env).messages.stream(model="claude", **hi()) as s:
        final = s.get_final_message()
    assert final.content[0].text == "Streamed and cached."
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (10, 40)


def test_a_stream_from_an_anthropic_upstream_names_its_stop_sequence_and_cache_writes(env):
    env.claude.answer("one, two", prompt_tokens=90, cache_write_tokens=80, stop_sequence="three")
    with client(env).messages.stream(model="claude", stop_sequences=["three"], **hi()) as s:
        final = s.get_final_message()
    assert final.content[0].text == "one, two"
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "three")
    assert (final.usage.input_tokens, final.usage.cache_creation_input_tokens) == (10, 80)


def test_a_stream_that_fails_after_it_began_ends_with_an_error_event(env):
    env.a.stream_error("Half an ans", "the model fell over")
    with pytest.raises(anthropic.APIStatusError) as e, \
            client(env).messages.stream(model="chat", **hi()) as s:
        for _ in s.text_stream:
            pass
    assert e.value.body["type"] == "error"
    assert e.value.body["error"]["type"] == "api_error"


# ---------------------------------------------------------------------- errors


def test_an_unknown_route_is_not_found(env):
    with pytest.raises(anthropic.NotFoundError) as e:
        client(env).messages.create(model="nope", **hi())
    assert e.value.body["error"]["type"] == "not_found_error"
    assert "routes:" in e.value.body["error"]["message"]


def test_a_wrong_key_and_no_key_are_authentication_errors(env):
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(env, "axt-wrong-key-000000000").messages.create(model="chat", **hi())
    assert e.value.body["error"]["type"] == "authentication_error"
    r = httpx.post(f"{env.url}/v1/messages", json={"model": "chat", **hi()})
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith("x-api-key header is required")


def test_a_route_the_key_may_not_use_is_the_same_not_found(env):
    with pytest.raises(anthropic.NotFoundError):
        client(env, KEYS["chatonly"]).messages.create(model="claude", **hi())


def test_every_upstream_rate_limited_is_a_rate_limit_error_with_retry_after(env):
    with pytest.raises(anthropic.RateLimitError) as e:
        client(env).messages.create(model="limited", **hi())
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert e.value.response.headers["retry-after"] == "7"


def test_a_spent_budget_is_a_rate_limit_error_the_sdk_does_not_retry(env):
    with pytest.raises(anthropic.RateLimitError) as e:
        client(env, KEYS["broke"]).messages.create(model="chat", **hi())
    assert e.value.response.headers["x-should-retry"] == "false"


def test_no_upstream_answering_is_overloaded_529(env):
    with pytest.raises(anthropic.OverloadedError) as e:
        client(env).messages.create(model="down", **hi())
    assert e.value.status_code == 529
    assert e.value.body["error"]["type"] == "overloaded_error"
    assert e.value.body["request_id"] == e.value.response.headers["x-request-id"]


def _record_of_error(env, e):
    rid = e.value.response.headers["x-request-id"]
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    return rec


@pytest.mark.parametrize("stream", [False, True])
def test_the_record_says_529_the_status_the_anthropic_client_got(env, stream):
    with pytest.raises(anthropic.OverloadedError) as e:
        client(env).messages.create(model="down", stream=stream, **hi())
    rec = _record_of_error(env, e)
    assert rec.face == "anthropic" and rec.outcome == "failed"
    assert rec.status == e.value.status_code == 529


def test_the_chat_face_still_records_its_own_503_for_the_same_failure(env):
    chat = openai.OpenAI(base_url=env.served.base_url, api_key=KEYS["alice"], max_retries=0)
    with pytest.raises(openai.InternalServerError) as e:
        chat.chat.completions.create(model="down", messages=[{"role": "user", "content": "hi"}])
    rec = _record_of_error(env, e)
    assert rec.face is None and rec.status == e.value.status_code == 503


def test_a_body_over_the_limit_is_request_too_large(env):
    big = "x" * 70_000  # the test gateway's max_body_bytes is 65536
    with pytest.raises(anthropic.APIStatusError) as e:
        client(env).messages.create(model="chat", **hi(messages=[{"role": "user",
                                                                  "content": big}]))
    assert e.value.status_code == 413
    assert e.value.body["error"]["type"] == "request_too_large"


@pytest.mark.parametrize(("body", "says"), [
    ({"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
     "max_tokens: Field required"),
    ({"model": "chat", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
     'messages.0.role: Unexpected role "system"'),
    ({"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "data": "x"}}]}]},
     "messages.0.content.0.type: 'document' is not supported"),
    ({"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "x"}}]}]},
     "messages.0.content.0.source.media_type: expected one of"),
    ({**hi(model="chat"), "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
     "tools.0.type: 'web_search_20250305' is a server tool"),
    ({**hi(model="chat"), "tool_choice": {"type": "sometimes"}},
     "tool_choice.type: expected one of auto, any, tool, none"),
    ({**hi(model="chat"), "temperature": 1.5}, "temperature: expected a number from 0 to 1"),
    ({**hi(model="chat"), "mcp_servers": [{"url": "https://x"}]}, "mcp_servers: not supported"),
])
def test_bad_input_is_an_invalid_request_error_naming_the_field(env, body, says):
    r = httpx.post(f"{env.url}/v1/messages", json=body, headers={"x-api-key": KEYS["alice"]})
    assert r.status_code == 400
    err = r.json()
    assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    assert err["error"]["message"].startswith(says), err


def test_a_body_that_is_not_json_is_an_invalid_request_error(env):
    r = httpx.post(f"{env.url}/v1/messages", content=b"{nope",
                   headers={"x-api-key": KEYS["alice"], "content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("the request body is not valid JSON")


def test_a_wrong_method_is_refused_in_anthropics_shape_too(env):
    r = httpx.get(f"{env.url}/v1/messages", headers={"x-api-key": KEYS["alice"]})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["type"] == "error"


def test_bad_input_is_the_sdks_bad_request_error(env):
    with pytest.raises(anthropic.BadRequestError):
        client(env).messages.create(model="chat", max_tokens=0, messages=[
            {"role": "user", "content": "hi"}])


# ---------------------------------------------------------------------- records and extras


def test_the_record_says_the_request_came_through_the_anthropic_face(env):
    raw = client(env).messages.with_raw_response.create(model="chat",
                                                        **hi(metadata={"user_id": "face-rec"}))
    rid = raw.headers["x-request-id"]
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    assert rec.face == "anthropic"
    assert rec.user == "face-rec" and rec.outcome == "ok"
    env.client().chat.completions.create(model="chat", messages=[{"role": "user",
                                                                  "content": "hi"}],
                                         user="openai-face")
    [chat] = wait_for_records(env.served.store_url, lambda r: r.user == "openai-face")
    assert chat.face is None  # the OpenAI face: the default


def test_a_client_that_leaves_a_message_stream_cancels_it(env):
    env.a.answer("one two three four five six seven", event_delay_s=0.4, slow_from=2)
    with httpx.stream("POST", f"{env.url}/v1/messages", timeout=5,
                      headers={"x-api-key": KEYS["alice"]},
                      json={"model": "chat", "stream": True, **hi()}) as r:
        rid = r.headers["x-request-id"]
        assert next(r.iter_lines()) == "event: message_start"
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    assert rec.outcome == "cancelled" and rec.face == "anthropic"
    assert rec.latency_ms < 1500  # the whole answer would take over 2 s


def test_a_client_that_times_out_cancels_the_upstream_call(env):
    with pytest.raises(anthropic.APITimeoutError):
        client(env, timeout=0.3).messages.create(model="slow", **hi(metadata={
            "user_id": "gone-early"}))
    [rec] = wait_for_records(env.served.store_url, lambda r: r.user == "gone-early")
    assert rec.outcome == "cancelled" and rec.latency_ms < 1000  # the upstream takes 1.5 s


def test_count_tokens_answers_the_gateways_estimate(env):
    n = client(env).messages.count_tokens(model="chat", system="Be brief.", messages=[
        {"role": "user", "content": "How many tokens is this?"}])
    assert 5 < n.input_tokens < 40
