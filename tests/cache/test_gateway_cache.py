"""The response cache through the gateway, with the official `openai` SDK as the client
against a loopback upstream: x-axtui-cache, streamed hits as SSE, keys kept apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import orjson
import pytest

from tests.fakes.openai_upstream import OpenAIUpstream
from tests.gateway.harness import (
    ADMIN_ENV,
    ADMIN_TOKEN,
    LoopThread,
    Served,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
    wait_for_records,
)

KEYS = {"alice": "axt-cache-alice-0123456789", "bob": "axt-cache-bob-0123456789"}
KEY_ENV = {n: f"AXTUI_TEST_CACHE_KEY_{n.upper()}" for n in KEYS}
ZERO = {"temperature": 0}


@dataclass
class Env:
    loop: LoopThread
    served: Served
    up: OpenAIUpstream

    def client(self, who: str = "alice") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.served.base_url, api_key=KEYS[who], max_retries=0,
                             timeout=15)

    def upstream_calls(self, question: str) -> int:
        return sum(1 for r in self.up.requests
                   if r.body["messages"][-1].get("content") == question)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    loop = LoopThread()
    up = OpenAIUpstream(reply_text="The capital of France is Paris, on the Seine.")
    loop.run(up.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('cache')}/gw.db"
    cfg = make_config({
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {"up": openai_provider(up.base_url)},
        "deployments": [deployment("up", "gpt-a")],
        "routes": {
            "cached": {"candidates": ["up/gpt-a"],
                       "cache": {"semantic": True, "similarity": 0.85}},
            "shared": {"candidates": ["up/gpt-a"], "cache": {"shared": True}},
            "plain": {"candidates": ["up/gpt-a"]},
        },
        "keys": [{"name": n, "key_env": KEY_ENV[n]} for n in KEYS],
        "gateway": {"admin_token_env": ADMIN_ENV},
    })
    environ = {KEY_ENV[n]: k for n, k in KEYS.items()} | {ADMIN_ENV: ADMIN_TOKEN}
    served = loop.run(start_gateway(cfg, store_url, environ))
    try:
        yield Env(loop, served, up)
    finally:
        loop.run(stop_gateway(served))
        loop.run(up.close())
        loop.close()


def ask(env: Env, question: str, route: str = "cached", who: str = "alice", **kw):
    return env.client(who).chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": question}], **(ZERO | kw))


def test_a_repeated_request_is_a_hit_the_gateway_announces(env: Env):
    q = "What is the capital of France?"
    first, second = ask(env, q), ask(env, q)
    assert first.headers["x-axtui-cache"] == "miss"
    assert second.headers["x-axtui-cache"] == "hit"
    assert "x-axtui-deployment" not in second.headers
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert second.parse().usage.total_tokens == first.parse().usage.total_tokens
    assert env.upstream_calls(q) == 1
    [hit] = wait_for_records(env.served.store_url, lambda r: r.id == second.headers[
        "x-request-id"])
    assert (hit.outcome, hit.cache, hit.cost_nano, hit.attempts) == ("ok", "exact", 0, [])
    assert hit.optimal_cost_nano > 0


def test_a_route_without_a_cache_sends_no_cache_header(env: Env):
    assert "x-axtui-cache" not in ask(env, "no cache here", route="plain").headers


def test_a_streaming_request_gets_its_hit_as_a_stream_the_sdk_reads(env: Env):
    q = "Name the longest river in France."
    plain = ask(env, q).parse().choices[0].message.content
    raw = env.client().chat.completions.with_raw_response.create(
        model="cached", messages=[{"role": "user", "content": q}], stream=True,
        stream_options={"include_usage": True}, **ZERO)
    assert raw.headers["x-axtui-cache"] == "hit"
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert env.upstream_calls(q) == 1


def test_a_streamed_hit_is_valid_sse_frame_by_frame(env: Env):
    q = "Which sea borders Marseille?"
    ask(env, q)
    with httpx.stream("POST", f"{env.served.base_url}/chat/completions",
                      headers={"authorization": f"Bearer {KEYS['alice']}"},
                      json={"model": "cached", "stream": True, "temperature": 0,
                            "messages": [{"role": "user", "content": q}]}) as r:
        body = r.read().decode()
    assert r.headers["x-axtui-cache"] == "hit"
    events = body.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    frames = [orjson.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert {f["object"] for f in frames} == {"chat.completion.chunk"}
    assert len({f["id"] for f in frames}) == 1
    assert frames[0]["choices"][0]["delta"]["role"] == "assistant"


def test_a_stream_that_missed_is_cached_for_the_next_plain_request(env: Env):
    q = "How tall is the Eiffel Tower?"
    stream = env.client().chat.completions.create(
        model="cached", messages=[{"role": "user", "content": q}], stream=True, **ZERO)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    again = ask(env, q)
    assert again.headers["x-axtui-cache"] == "hit"
    assert again.parse().choices[0].message.content == text


def test_another_callers_key_never_gets_the_answer(env: Env):
    q = "What is my account balance?"
    ask(env, q, who="alice")
    bob = ask(env, q, who="bob")
    assert bob.headers["x-axtui-cache"] == "miss"
    assert env.upstream_calls(q) == 2


def test_a_shared_route_serves_every_key(env: Env):
    q = "What are the opening hours?"
    ask(env, q, route="shared", who="alice")
    assert ask(env, q, route="shared", who="bob").headers["x-axtui-cache"] == "hit"


def test_a_sampled_request_is_never_served_from_the_cache(env: Env):
    q = "Write a short poem about rain."
    ask(env, q, temperature=0.9)
    assert ask(env, q, temperature=0.9).headers["x-axtui-cache"] == "miss"
    assert env.upstream_calls(q) == 2


def test_a_tool_result_turn_is_never_served_from_the_cache(env: Env):
    messages = [
        {"role": "user", "content": "Weather in Lyon?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_9", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\": \"Lyon\"}"}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "{\"sky\": \"grey\"}"},
    ]
    client = env.client()
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(
            model="cached", messages=messages, temperature=0)
    assert raw.headers["x-axtui-cache"] == "miss"


def test_a_reworded_question_is_a_semantic_hit_with_its_similarity(env: Env):
    ask(env, "What is the capital of Italy?")
    hit = ask(env, "what's the capital of italy")
    assert hit.headers["x-axtui-cache"] == "hit"
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == hit.headers[
        "x-request-id"])
    assert rec.cache == "semantic" and 0.85 <= rec.cache_similarity < 1.0


def admin(env: Env, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{env.served.url}/admin{path}", timeout=10,
                         headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, **kw)


def test_the_admin_api_shows_this_gateways_cache_and_clears_a_route(env: Env):
    q = "Is there parking nearby?"
    ask(env, q, route="shared")
    assert ask(env, q, route="shared").headers["x-axtui-cache"] == "hit"
    routes = admin(env, "GET", "/cache").json()["routes"]
    assert set(routes) == {"cached", "shared"}
    assert routes["shared"]["exact"] >= 1 and routes["shared"]["entries"] >= 1
    done = admin(env, "POST", "/cache/clear", json={"route": "shared", "by": "ops"})
    assert done.status_code == 200 and done.json()["routes"] == ["shared"]
    assert ask(env, q, route="shared").headers["x-axtui-cache"] == "miss"
    assert admin(env, "GET", "/cache").json()["routes"]["shared"]["cleared"] == 1


def test_the_admin_api_refuses_to_clear_a_route_without_a_cache(env: Env):
    r = admin(env, "POST", "/cache/clear", json={"route": "plain"})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == ("route 'plain' has no cache; routes that cache: "
                                            "cached, shared")
