"""Wire fidelity through the gateway, with the official `openai` SDK as the client: structured
output served by Anthropic, meaning-changing parameters steering the choice of deployment,
refusals and logprobs passed back, billing errors and failed finishes failing over."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
import orjson
import pytest
from pydantic import BaseModel

from axtui.gateway.errors import ApiError
from axtui.gateway.wire import parse_chat
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.loopback import Reply, sse
from tests.fakes.openai_upstream import OpenAIUpstream

from .harness import (
    LoopThread,
    Served,
    make_config,
    start_gateway,
    stop_gateway,
    wait_for_records,
)

HELLO = [{"role": "user", "content": "Which city?"}]
TOOL = {"type": "function", "function": {"name": "pick", "parameters": {
    "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}
PRICE = {"input": "1", "output": "2"}


class City(BaseModel):
    name: str
    population: int


@dataclass
class Env:
    loop: LoopThread
    served: Served
    claude: AnthropicUpstream
    oai: OpenAIUpstream
    gem: GeminiUpstream

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.served.base_url, api_key="none", max_retries=0,
                             timeout=15)


def dep(provider: str, model: str) -> dict:
    # no `capabilities`: the catalog's own flags for the model decide
    return {"provider": provider, "model": model, "price": PRICE}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    loop = LoopThread()
    fakes = {"claude": AnthropicUpstream(), "oai": OpenAIUpstream(reply_text="from openai"),
             "gem": GeminiUpstream()}
    for f in fakes.values():
        loop.run(f.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('wire')}/gw.db"
    data = {
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {
            "claude": {"protocol": "anthropic", "base_url": fakes["claude"].base_url},
            "oai": {"protocol": "openai", "base_url": fakes["oai"].base_url},
            "gem": {"protocol": "gemini", "base_url": fakes["gem"].base_url},
        },
        "deployments": [dep("claude", "claude-sonnet-4-5"),
                        dep("claude", "claude-3-5-haiku-latest"),
                        dep("oai", "gpt-4o-mini"), dep("gem", "gemini-2.5-flash")],
        "routes": {
            "sonnet": {"candidates": ["claude/claude-sonnet-4-5"]},
            "haiku-first": {"candidates": ["claude/claude-3-5-haiku-latest", "oai/gpt-4o-mini"]},
            "claude-first": {"candidates": ["claude/claude-sonnet-4-5", "oai/gpt-4o-mini"]},
            "gemini-first": {"candidates": ["gem/gemini-2.5-flash", "oai/gpt-4o-mini"]},
            "gemini": {"candidates": ["gem/gemini-2.5-flash"]},
            "openai": {"candidates": ["oai/gpt-4o-mini"]},
        },
    }
    served = loop.run(start_gateway(make_config(data), store_url))
    try:
        yield Env(loop, served, **fakes)
    finally:
        loop.run(stop_gateway(served))
        for f in fakes.values():
            loop.run(f.close())
        loop.close()


def test_sdk_parse_works_on_a_route_served_by_anthropic(env: Env):
    env.claude.answer('{"name": "Oslo", "population": 709000}')
    resp = env.client().chat.completions.parse(model="sonnet", messages=HELLO,
                                               response_format=City)
    assert resp.choices[0].message.parsed == City(name="Oslo", population=709000)
    sent = env.claude.requests[-1].body
    assert sent["output_config"]["format"]["type"] == "json_schema"
    assert sent["output_config"]["format"]["schema"]["required"] == ["name", "population"]


def test_sdk_parse_sees_an_anthropic_refusal(env: Env):
    env.claude.answer("I can't share that.", finish_reason="refusal")
    resp = env.client().chat.completions.parse(model="sonnet", messages=HELLO,
                                               response_format=City)
    message = resp.choices[0].message
    assert message.refusal == "I can't share that." and message.parsed is None


def test_a_model_that_cannot_follow_a_schema_is_skipped(env: Env):
    env.oai.answer('{"name": "Bergen", "population": 291000}')
    before = len(env.claude.requests)
    resp = env.client().chat.completions.parse(model="haiku-first", messages=HELLO,
                                               response_format=City)
    assert len(env.claude.requests) == before  # claude-3-5-haiku has no structured output
    assert env.oai.requests[-1].body["response_format"]["type"] == "json_schema"
    assert resp.choices[0].message.parsed == City(name="Bergen", population=291000)


def test_logprobs_go_to_a_deployment_that_has_them_and_come_back(env: Env):
    logprobs = {"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
                             "top_logprobs": [{"token": "Hi", "logprob": -0.5,
                                               "bytes": [72, 105]}]}], "refusal": None}
    env.oai.push(Reply(body=orjson.dumps({
        "id": "c9", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [{
            "index": 0, "finish_reason": "stop", "logprobs": logprobs,
            "message": {"role": "assistant", "content": "Hi", "refusal": None}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})))
    before = len(env.claude.requests)
    resp = env.client().chat.completions.create(model="claude-first", messages=HELLO,
                                                logprobs=True, top_logprobs=1, seed=5)
    assert len(env.claude.requests) == before  # Anthropic's wire has no logprobs
    assert resp.choices[0].logprobs.content[0].token == "Hi"
    sent = env.oai.requests[-1].body
    assert (sent["logprobs"], sent["top_logprobs"], sent["seed"]) == (True, 1, 5)


def test_a_streamed_refusal_reaches_the_sdk_as_delta_refusal(env: Env):
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return sse({"id": "c2", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    env.oai.push(Reply(content_type="text/event-stream", events=[
        chunk({"role": "assistant", "refusal": "I can't "}), chunk({"refusal": "do that."}),
        chunk({}, "stop"), b"data: [DONE]\n\n"]))
    stream = env.client().chat.completions.create(model="openai", messages=HELLO,
                                                  stream=True)
    refusal = "".join(c.choices[0].delta.refusal or "" for c in stream if c.choices)
    assert refusal == "I can't do that."


def test_a_meaning_changing_parameter_no_deployment_can_honour_is_a_400_naming_it(env: Env):
    with pytest.raises(openai.BadRequestError) as e:
        env.client().chat.completions.create(model="sonnet", messages=HELLO,
                                             logit_bias={"50256": -100})
    assert "logit_bias" in e.value.message


def test_a_hint_the_wire_cannot_carry_is_dropped_not_refused(env: Env):
    env.client().chat.completions.create(model="sonnet", messages=HELLO, seed=3,
                                         presence_penalty=0.4, service_tier="flex")
    sent = env.claude.requests[-1].body
    assert not {"seed", "presence_penalty", "service_tier"} & sent.keys()


def test_parallel_tool_calls_false_reaches_anthropic_as_disable_parallel_tool_use(env: Env):
    env.client().chat.completions.create(model="sonnet", messages=HELLO, tools=[TOOL],
                                         parallel_tool_calls=False)
    assert env.claude.requests[-1].body["tool_choice"]["disable_parallel_tool_use"] is True


def test_a_billing_error_fails_over_to_the_next_account(env: Env):
    env.claude.error(402, "Your credit balance is too low", type="billing_error")
    raw = env.client().chat.completions.with_raw_response.create(model="claude-first",
                                                                 messages=HELLO)
    assert raw.headers["x-axtui-deployment"] == "oai/gpt-4o-mini"
    assert raw.parse().choices[0].message.content == "from openai"


def test_a_malformed_function_call_finish_fails_over(env: Env):
    env.gem.answer("", finish_reason="MALFORMED_FUNCTION_CALL")
    raw = env.client().chat.completions.with_raw_response.create(
        model="gemini-first", messages=HELLO, tools=[TOOL])
    assert raw.headers["x-axtui-deployment"] == "oai/gpt-4o-mini"
    assert raw.parse().choices[0].finish_reason in ("stop", "tool_calls")


def test_a_gemini_answer_without_usage_is_estimated_and_costed(env: Env):
    env.gem.push(Reply(body=orjson.dumps({"candidates": [{
        "content": {"role": "model", "parts": [{"text": "An answer of some length."}]},
        "finishReason": "STOP"}]})))
    raw = env.client().chat.completions.with_raw_response.create(model="gemini",
                                                                 messages=HELLO)
    rid = raw.headers["x-request-id"]
    resp = raw.parse()
    assert resp.usage.completion_tokens > 0 and resp.usage.prompt_tokens > 0
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    assert rec.cost_nano > 0 and "usage estimated" in rec.reason


def test_audio_output_is_refused_naming_modalities(env: Env):
    with pytest.raises(openai.BadRequestError) as e:
        env.client().chat.completions.create(model="sonnet", messages=HELLO,
                                             modalities=["text", "audio"])
    assert "modalities" in e.value.message




def test_no_max_tokens_sends_anthropic_the_models_output_limit_from_the_catalog(env: Env):
    env.client().chat.completions.create(model="sonnet", messages=HELLO)
    assert env.claude.requests[-1].body["max_tokens"] == 64_000  # Claude Sonnet 4.5's


# --------------------------------------------------------------------------- parsing


def parse(**body):
    return parse_chat(orjson.dumps({"model": "m", "messages": HELLO, **body})).request


def test_optional_parameters_are_carried_by_their_openai_names():
    req = parse(seed=1, logprobs=True, top_logprobs=3, reasoning_effort="high",
                prompt_cache_key="k", verbosity="low", service_tier="auto", store=None)
    assert req.params == {"seed": 1, "logprobs": True, "top_logprobs": 3,
                          "reasoning_effort": "high", "prompt_cache_key": "k",
                          "verbosity": "low", "service_tier": "auto"}  # null: not set


@pytest.mark.parametrize(("body", "field"), [
    ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
    ({"reasoning_effort": "max"}, "reasoning_effort"),
    ({"logit_bias": {"1": 200}}, "logit_bias"),
    ({"verbosity": 3}, "verbosity"),
    ({"modalities": ["video"]}, "modalities"),
])
def test_an_optional_parameter_of_the_wrong_value_is_a_400_naming_it(body, field):
    with pytest.raises(ApiError) as e:
        parse(**body)
    assert e.value.status == 400 and e.value.message.startswith(field)


def test_the_gateway_checks_every_parameter_the_adapters_know():
    from axtui.gateway.wire import _OPTIONAL
    from axtui.providers.params import PARAMS

    assert set(_OPTIONAL) == set(PARAMS)
