"""The gateway as an OpenAI drop-in, seen through the official `openai` SDK: answers, streams,
tools, translation to other vendors, and the SDK's typed errors for each refusal."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.fakes.loopback import ToolCall

from .conftest import KEYS, UPSTREAM_SECRET, Env
from .harness import wait_for_records

HELLO = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}


# --------------------------------------------------------------------------- answers


def test_chat_completion_through_the_sdk(env: Env):
    resp = env.client().chat.completions.create(model="chat", messages=HELLO)
    assert resp.choices[0].message.content == "Hello from upstream A."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "chat"
    assert resp.usage.prompt_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_response_headers_say_what_happened(env: Env):
    raw = env.client().chat.completions.with_raw_response.create(model="chat", messages=HELLO)
    h = raw.headers
    assert h["x-axtui-route"] == "chat"
    assert h["x-axtui-deployment"] == "a/gpt-a"
    assert h["x-axtui-attempts"] == "1"
    assert 0.0 <= float(h["x-axtui-overhead-ms"]) < 1000
    assert raw.parse().id == "chatcmpl-" + h["x-request-id"]
    # the engine's per-key quota (10000 rpm) shows as OpenAI's rate-limit headers (it refills
    # one request every 6 ms, so how many remain depends on how long the request took)
    assert h["x-ratelimit-limit-requests"] == "10000"
    assert 0 <= int(h["x-ratelimit-remaining-requests"]) <= 10000
    assert h["x-ratelimit-reset-requests"].endswith(("ms", "s"))


def test_parameters_pass_through_to_the_upstream(env: Env):
    env.client().chat.completions.create(
        model="chat", messages=HELLO, max_tokens=50, temperature=0.3, user="u-42",
        response_format={"type": "json_object"}, stop=["END"])
    sent = env.a.requests[-1].body
    assert sent["model"] == "gpt-a"
    assert (sent["max_tokens"], sent["temperature"], sent["user"]) == (50, 0.3, "u-42")
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["stop"] == ["END"]


def test_streaming_with_usage_in_the_last_chunk(env: Env):
    chunks = list(env.client().chat.completions.create(
        model="chat", messages=HELLO, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from upstream A."
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_without_include_usage_has_no_usage_chunk(env: Env):
    chunks = list(env.client().chat.completions.create(model="chat", messages=HELLO,
                                                       stream=True))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_a_stream_that_fails_midway_ends_with_an_error_event(env: Env):
    env.a.stream_error("Half an answer", "upstream fell over")
    stream = env.client().chat.completions.create(model="chat", messages=HELLO, stream=True)
    text = []
    with pytest.raises(openai.APIError) as e:
        for chunk in stream:
            text.append(chunk.choices[0].delta.content or "")
    assert "".join(text) == "Half an answer"
    assert "stream failed after first chunk" in e.value.message
    [rec] = wait_for_records(env.served.store_url, lambda r: r.outcome == "interrupted")
    assert rec.deployment == "a/gpt-a"


def test_stream_headers_name_the_deployment(env: Env):
    with httpx.stream("POST", f"{env.base_url}/chat/completions",
                      headers={"authorization": f"Bearer {KEYS['alice']}"},
                      json={"model": "chat", "messages": HELLO, "stream": True}) as r:
        body = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-axtui-deployment"] == "a/gpt-a"
    assert body.rstrip().endswith("data: [DONE]")


def test_tool_call_round_trip(env: Env):
    client = env.client()
    env.a.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")])
    first = client.chat.completions.create(model="chat", messages=HELLO, tools=[WEATHER_TOOL],
                                           tool_choice="auto")
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name) == ("call_1", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert env.a.requests[-1].body["tools"] == [WEATHER_TOOL]

    env.a.answer("It is sunny in Paris.")
    second = client.chat.completions.create(model="chat", tools=[WEATHER_TOOL], messages=[
        *HELLO, first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'}])
    assert second.choices[0].message.content == "It is sunny in Paris."
    sent = env.a.requests[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'}


def test_streamed_tool_call_arrives_in_deltas(env: Env):
    env.a.answer(tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="call_9")])
    chunks = list(env.client().chat.completions.create(model="chat", messages=HELLO,
                                                       tools=[WEATHER_TOOL], stream=True))
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id == "call_9" and deltas[0].function.name == "get_weather"
    args = "".join(d.function.arguments or "" for d in deltas)
    assert json.loads(args) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_anthropic_route_is_translated_both_ways(env: Env):
    resp = env.client().chat.completions.create(model="claude", messages=[
        {"role": "system", "content": "Be brief."}, *HELLO], max_tokens=64)
    assert resp.choices[0].message.content == "Bonjour from Claude."
    sent = env.claude.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body["system"] == "Be brief."
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Say hello."}]}]


def test_gemini_route_streams(env: Env):
    chunks = list(env.client().chat.completions.create(
        model="gemini", messages=HELLO, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hallo from Gemini."
    assert chunks[-1].usage is not None
    assert ":streamGenerateContent" in env.gem.requests[-1].path


def test_models_lists_the_routes_a_key_may_use(env: Env):
    assert {m.id for m in env.client().models.list()} == {
        "chat", "claude", "gemini", "limited", "slow", "leaky", "budgeted"}
    assert [m.id for m in env.client(KEYS["chatonly"]).models.list()] == ["chat"]
    assert env.client().models.retrieve("claude").id == "claude"
    with pytest.raises(openai.NotFoundError):
        env.client(KEYS["chatonly"]).models.retrieve("claude")


# --------------------------------------------------------------------------- typed errors


def test_a_wrong_key_is_an_authentication_error(env: Env):
    with pytest.raises(openai.AuthenticationError) as e:
        env.client("axt-not-a-key").chat.completions.create(model="chat", messages=HELLO)
    assert e.value.status_code == 401
    assert e.value.body["code"] == "invalid_api_key"
    assert "axt-not-a-key" not in e.value.message


def test_no_key_is_an_authentication_error(env: Env):
    r = httpx.post(f"{env.base_url}/chat/completions", json={"model": "chat",
                                                             "messages": HELLO})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_an_unknown_model_is_not_found_and_lists_routes(env: Env):
    with pytest.raises(openai.NotFoundError) as e:
        env.client().chat.completions.create(model="gpt-9", messages=HELLO)
    assert e.value.body["code"] == "model_not_found"
    assert e.value.body["param"] == "model"
    assert "chat, claude" in e.value.message
    refused = wait_for_records(env.served.store_url, lambda r: r.requested_route == "gpt-9")
    assert [(r.outcome, r.status) for r in refused] == [("rejected", 404)]


def test_a_route_outside_the_keys_list_is_the_same_404(env: Env):
    with pytest.raises(openai.NotFoundError) as e:
        env.client(KEYS["chatonly"]).chat.completions.create(model="claude", messages=HELLO)
    assert "does not exist or you do not have access to it; routes: chat" in e.value.message
    assert "gemini" not in e.value.message  # other routes are not exposed to this key


def test_missing_messages_is_a_bad_request(env: Env):
    with pytest.raises(openai.BadRequestError) as e:
        env.client().chat.completions.create(model="chat", messages=None)  # type: ignore[arg-type]
    assert e.value.body["param"] == "messages"


def test_a_wrong_role_is_a_bad_request_naming_the_field(env: Env):
    with pytest.raises(openai.BadRequestError) as e:
        env.client().chat.completions.create(model="chat", messages=[
            *HELLO, {"role": "assistant", "content": "hi"}, {"role": "robot", "content": "x"}])
    assert e.value.body["message"] == \
        "messages[2].role: expected one of system, developer, user, assistant, tool"


def test_the_key_rpm_is_a_rate_limit_error_with_retry_after(env: Env):
    client = env.client(KEYS["one"])
    client.chat.completions.create(model="chat", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="chat", messages=HELLO)
    assert e.value.body["code"] == "rate_limit_exceeded"
    assert "1 requests per minute" in e.value.message
    assert int(e.value.response.headers["retry-after"]) >= 1
    assert e.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_spent_budget_is_429_insufficient_quota_not_to_be_retried(env: Env):
    with pytest.raises(openai.RateLimitError) as e:
        env.client(KEYS["broke"]).chat.completions.create(model="chat", messages=HELLO)
    assert e.value.body["type"] == "insufficient_quota"
    assert e.value.body["code"] == "budget_exceeded"
    assert "daily budget" in e.value.message
    assert e.value.response.headers["x-should-retry"] == "false"
    assert int(e.value.response.headers["retry-after"]) > 0


def test_a_spent_route_budget_is_the_same_429(env: Env):
    with pytest.raises(openai.RateLimitError) as e:
        env.client().chat.completions.create(model="budgeted", messages=HELLO)
    assert (e.value.body["type"], e.value.body["code"]) == ("insufficient_quota",
                                                            "budget_exceeded")
    assert "daily budget for route:budgeted is spent" in e.value.message
    assert e.value.response.headers["x-should-retry"] == "false"


def test_all_upstreams_rate_limited_is_429_with_their_retry_after(env: Env):
    with pytest.raises(openai.RateLimitError) as e:
        env.client().chat.completions.create(model="limited", messages=HELLO)
    assert e.value.body["code"] == "upstream_rate_limited"
    assert e.value.response.headers["retry-after"] == "7"
    assert "limited/x: rate_limited 429" in e.value.message
    assert "limited/y: rate_limited 429" in e.value.message
    assert e.value.response.headers["x-axtui-attempts"] == "2"


def test_a_request_no_deployment_can_serve_is_a_400_not_a_503(env: Env):
    with pytest.raises(openai.BadRequestError) as e:
        env.client().chat.completions.create(model="chat", messages=HELLO,
                                             max_tokens=1_000_000)
    assert e.value.body["code"] == "context_length_exceeded"
    assert "max_tokens 1000000" in e.value.message and "largest 128000" in e.value.message


def test_an_upstream_error_never_carries_its_key(env: Env):
    with pytest.raises(openai.APIStatusError) as e:
        env.client().chat.completions.create(model="leaky", messages=HELLO)
    assert e.value.status_code == 502
    assert "all 1 attempt failed: leaky/l: auth 401" in e.value.message
    assert UPSTREAM_SECRET not in e.value.response.text
    assert UPSTREAM_SECRET[:20] not in e.value.response.text
