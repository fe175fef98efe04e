"""Wire fidelity, adapter by adapter, against loopback upstreams: what each protocol is sent
for OpenAI's optional parameters, and what comes back (refusals, logprobs, billing errors,
finish reasons that are failures, usage the vendor bills)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from axtui.clock import RealClock
from axtui.providers.anthropic import AnthropicProvider
from axtui.providers.base import ChatChunk, ChatRequest, Provider
from axtui.providers.cohere import CohereProvider
from axtui.providers.errors import ProviderError
from axtui.providers.gemini import GeminiProvider
from axtui.providers.openai import OpenAIProvider
from axtui.records import ErrorKind
from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.cohere_upstream import CohereUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.loopback import Reply, ToolCall, sse
from tests.fakes.openai_upstream import OpenAIUpstream

HELLO = [{"role": "user", "content": "Say hello"}]
TOOL = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": {
    "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
    "additionalProperties": False}}}


def make(cls: type[Provider], up, client: httpx.AsyncClient, **kw) -> Provider:
    return cls("p", base_url=up.base_url, api_key=None, client=client, clock=RealClock(), **kw)


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [c async for c in stream]


# ------------------------------------------------------------------- OpenAI

ALL_PARAMS = {
    "seed": 7, "presence_penalty": 0.5, "frequency_penalty": -0.5, "logprobs": True,
    "top_logprobs": 2, "logit_bias": {"1234": -100}, "parallel_tool_calls": False,
    "service_tier": "flex", "metadata": {"team": "search"}, "store": False,
    "prediction": {"type": "content", "content": "x"}, "prompt_cache_key": "k1",
    "safety_identifier": "u-hash", "modalities": ["text"],
}


async def test_openai_upstream_is_sent_every_optional_parameter_as_given(http_client):
    async with OpenAIUpstream() as up:
        req = ChatRequest(HELLO, tools=[TOOL], params=dict(ALL_PARAMS))
        await make(OpenAIProvider, up, http_client).complete(req, "gpt-4o-mini")
        sent = up.requests[-1].body
    assert {k: sent.get(k) for k in ALL_PARAMS} == ALL_PARAMS


async def test_openai_reasoning_model_gets_no_sampling_it_refuses_but_its_effort(http_client):
    async with OpenAIUpstream() as up:
        req = ChatRequest(HELLO, max_tokens=50, temperature=0.2, top_p=0.9,
                          params={"reasoning_effort": "low", "presence_penalty": 1.0,
                                  "verbosity": "low", "seed": 3})
        await make(OpenAIProvider, up, http_client).complete(req, "o4-mini")
        sent = up.requests[-1].body
    assert not {"temperature", "top_p", "presence_penalty", "max_tokens"} & sent.keys()
    assert sent["max_completion_tokens"] == 50
    assert (sent["reasoning_effort"], sent["verbosity"], sent["seed"]) == ("low", "low", 3)


async def test_openai_plain_model_keeps_sampling_and_loses_reasoning_only_hints(http_client):
    async with OpenAIUpstream() as up:
        req = ChatRequest(HELLO, temperature=0.2, params={"reasoning_effort": "low",
                                                          "verbosity": "low"})
        await make(OpenAIProvider, up, http_client).complete(req, "gpt-4o")
        sent = up.requests[-1].body
    assert sent["temperature"] == 0.2
    assert "reasoning_effort" not in sent and "verbosity" not in sent


LOGPROBS = {"content": [{"token": "No", "logprob": -0.01, "bytes": [78], "top_logprobs": []}],
            "refusal": None}


async def test_openai_refusal_and_logprobs_reach_the_answer(http_client):
    body = {"id": "c1", "object": "chat.completion", "model": "gpt-4o", "choices": [{
        "index": 0, "finish_reason": "stop", "logprobs": LOGPROBS,
        "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
    }], "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}}
    async with OpenAIUpstream() as up:
        up.push(Reply(body=orjson.dumps(body)))
        resp = await make(OpenAIProvider, up, http_client).complete(
            ChatRequest(HELLO, params={"logprobs": True}), "gpt-4o")
    assert resp.refusal == "I can't help with that." and resp.content is None
    assert resp.logprobs == LOGPROBS


async def test_openai_stream_passes_refusal_deltas_and_logprobs(http_client):
    def chunk(delta, finish=None, logprobs=None):
        return sse({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o",
                    "choices": [{"index": 0, "delta": delta, "logprobs": logprobs,
                                 "finish_reason": finish}]})

    frames = [chunk({"role": "assistant", "refusal": ""}), chunk({"refusal": "I can't "}),
              chunk({"refusal": "help."}, logprobs=LOGPROBS), chunk({}, "stop"),
              b"data: [DONE]\n\n"]
    async with OpenAIUpstream() as up:
        up.push(Reply(events=frames, content_type="text/event-stream"))
        chunks = await collect(make(OpenAIProvider, up, http_client).stream(
            ChatRequest(HELLO), "gpt-4o"))
    assert "".join(c.refusal or "" for c in chunks) == "I can't help."
    assert [c.logprobs for c in chunks if c.logprobs] == [LOGPROBS]
    assert chunks[-1].finish_reason == "stop"


async def test_openai_402_fails_over_away_from_the_account(http_client):
    async with OpenAIUpstream() as up:
        up.push(Reply(402, body=b'{"error": {"message": "Payment required", "type": "billing"}}'))
        with pytest.raises(ProviderError) as e:
            await make(OpenAIProvider, up, http_client).complete(ChatRequest(HELLO), "gpt-4o")
    assert e.value.kind is ErrorKind.auth


# ------------------------------------------------------------------- Anthropic


async def test_anthropic_json_schema_goes_in_output_config(http_client):
    async with AnthropicUpstream() as up:
        up.answer('{"name": "Paris"}')
        resp = await make(AnthropicProvider, up, http_client).complete(
            ChatRequest(HELLO, response_format=SCHEMA), "claude-sonnet-4-5")
        sent = up.requests[-1].body
    assert sent["output_config"] == {"format": {
        "type": "json_schema", "schema": SCHEMA["json_schema"]["schema"]}}
    assert resp.content == '{"name": "Paris"}'


async def test_anthropic_parallel_tool_calls_false_disables_parallel_tool_use(http_client):
    async with AnthropicUpstream() as up:
        await make(AnthropicProvider, up, http_client).complete(
            ChatRequest(HELLO, tools=[TOOL], params={"parallel_tool_calls": False}),
            "claude-sonnet-4-5")
        sent = up.requests[-1].body
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


async def test_anthropic_default_max_tokens_is_the_models_output_limit(http_client):
    async with AnthropicUpstream() as up:
        p = make(AnthropicProvider, up, http_client)
        p.output_limits["claude-sonnet-4-5"] = (64_000, 200_000)
        await p.complete(ChatRequest(HELLO), "claude-sonnet-4-5")
        assert up.requests[-1].body["max_tokens"] == 64_000
        await p.complete(ChatRequest(HELLO, max_tokens=10), "claude-sonnet-4-5")
        assert up.requests[-1].body["max_tokens"] == 10


async def test_anthropic_default_max_tokens_leaves_room_for_a_long_prompt(http_client):
    long = [{"role": "user", "content": "word " * 90_000}]  # ~450k bytes, ~150k tokens
    async with AnthropicUpstream() as up:
        p = make(AnthropicProvider, up, http_client)
        p.output_limits["claude-3-7-sonnet"] = (64_000, 200_000)
        await p.complete(ChatRequest(long), "claude-3-7-sonnet")
        sent = up.requests[-1].body["max_tokens"]
    assert sent < 64_000 and sent + len(orjson.dumps(long)) // 3 <= 200_000


async def test_anthropic_version_is_configurable(http_client):
    async with AnthropicUpstream() as up:
        p = make(AnthropicProvider, up, http_client, api_version="2025-10-01")
        await p.complete(ChatRequest(HELLO), "claude-sonnet-4-5")
        assert up.requests[-1].headers["anthropic-version"] == "2025-10-01"


async def test_anthropic_billing_error_fails_over_and_is_not_retried(http_client):
    async with AnthropicUpstream() as up:
        up.error(402, "Your credit balance is too low", type="billing_error")
        with pytest.raises(ProviderError) as e:
            await make(AnthropicProvider, up, http_client).complete(
                ChatRequest(HELLO), "claude-sonnet-4-5")
    assert e.value.kind is ErrorKind.auth and e.value.retryable is False


async def test_anthropic_refusal_becomes_openai_refusal(http_client):
    async with AnthropicUpstream() as up:
        up.answer("I won't help with that.", finish_reason="refusal")
        resp = await make(AnthropicProvider, up, http_client).complete(
            ChatRequest(HELLO), "claude-sonnet-4-5")
    assert (resp.content, resp.refusal) == (None, "I won't help with that.")
    assert resp.finish_reason == "stop"


# ------------------------------------------------------------------- Cohere


async def test_cohere_402_fails_over_and_is_not_retried(http_client):
    async with CohereUpstream() as up:
        up.error(402, "Please add a payment method")
        with pytest.raises(ProviderError) as e:
            await make(CohereProvider, up, http_client).complete(ChatRequest(HELLO), "command-a")
    assert e.value.kind is ErrorKind.auth and e.value.retryable is False


@pytest.mark.parametrize(("reason", "kind"), [("ERROR", ErrorKind.server),
                                              ("TIMEOUT", ErrorKind.timeout)])
async def test_cohere_error_finish_is_a_failed_attempt(http_client, reason, kind):
    async with CohereUpstream() as up:
        up.answer("", finish_reason=reason)
        with pytest.raises(ProviderError) as e:
            await make(CohereProvider, up, http_client).complete(ChatRequest(HELLO), "command-a")
    assert e.value.kind is kind


async def test_cohere_error_finish_in_a_stream_is_a_failure(http_client):
    async with CohereUpstream() as up:
        up.answer("partial", finish_reason="ERROR")
        with pytest.raises(ProviderError) as e:
            await collect(make(CohereProvider, up, http_client).stream(
                ChatRequest(HELLO), "command-a"))
    assert e.value.kind is ErrorKind.server


async def test_cohere_streamed_tool_plan_is_content_beside_the_call(http_client):
    async with CohereUpstream() as up:
        up.answer(tool_calls=[ToolCall("get_weather", {"city": "Oslo"})])
        chunks = await collect(make(CohereProvider, up, http_client).stream(
            ChatRequest(HELLO, tools=[TOOL]), "command-a"))
    assert "".join(c.content or "" for c in chunks) == "I will call the tools to answer."
    assert chunks[-1].finish_reason == "tool_calls"


async def test_cohere_gets_the_tool_plan_back_on_the_calling_turn(http_client):
    history = [*HELLO, {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather",
                                                      "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]
    async with CohereUpstream() as up:
        await make(CohereProvider, up, http_client).complete(
            ChatRequest(history, tools=[TOOL], params={"seed": 4}), "command-a")
        sent = up.requests[-1].body
    turn = sent["messages"][1]
    assert turn["tool_plan"] == "Let me look." and "content" not in turn
    assert sent["seed"] == 4


# ------------------------------------------------------------------- Gemini


async def test_gemini_malformed_function_call_is_a_failed_attempt(http_client):
    async with GeminiUpstream() as up:
        up.answer("", finish_reason="MALFORMED_FUNCTION_CALL")
        with pytest.raises(ProviderError) as e:
            await make(GeminiProvider, up, http_client).complete(
                ChatRequest(HELLO, tools=[TOOL]), "gemini-2.5-flash")
    assert e.value.kind is ErrorKind.malformed


async def test_gemini_answer_without_usage_metadata_says_usage_was_not_reported(http_client):
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi there"}]},
                            "finishReason": "STOP"}], "modelVersion": "gemini-2.5-flash"}
    async with GeminiUpstream() as up:
        up.push(Reply(body=orjson.dumps(body)))
        resp = await make(GeminiProvider, up, http_client).complete(
            ChatRequest(HELLO), "gemini-2.5-flash")
    assert resp.content == "Hi there" and resp.usage_reported is False


async def test_gemini_api_version_and_generation_params(http_client):
    async with GeminiUpstream() as up:
        p = make(GeminiProvider, up, http_client, api_version="v1")
        await p.complete(ChatRequest(HELLO, params={
            "seed": 9, "presence_penalty": 0.1, "frequency_penalty": 0.2,
            "reasoning_effort": "low"}), "gemini-2.5-flash")
        sent = up.requests[-1]
    assert sent.path == "/v1/models/gemini-2.5-flash:generateContent"
    config = sent.body["generationConfig"]
    assert (config["seed"], config["presencePenalty"], config["frequencyPenalty"]) == (9, 0.1,
                                                                                       0.2)
    assert config["thinkingConfig"] == {"thinkingBudget": 1024}


async def test_gemini_default_api_version_is_v1beta(http_client):
    async with GeminiUpstream() as up:
        await make(GeminiProvider, up, http_client).complete(ChatRequest(HELLO), "gemini-2.0-flash")
        assert up.requests[-1].path.startswith("/v1beta/models/")


# ------------------------------------------------------------------- configuration


def test_api_version_is_read_from_the_provider_config(http_client):
    from pydantic import ValidationError

    from axtui.config import ProviderConfig
    from axtui.providers import build_provider

    cfg = ProviderConfig(protocol="gemini", base_url="http://127.0.0.1:9", api_version="v1")
    assert build_provider("g", cfg, http_client, RealClock()).api_version == "v1"
    with pytest.raises(ValidationError):
        ProviderConfig(protocol="anthropic", api_version="2023-06-01\r\nx-evil: 1")
