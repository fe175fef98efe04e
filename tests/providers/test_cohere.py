"""The Cohere adapter against a loopback Cohere v2 that speaks the real wire format."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from axtui.clock import RealClock
from axtui.config import ProviderConfig
from axtui.providers import build_provider
from axtui.providers.base import ChatChunk, ChatRequest, Timeouts
from axtui.providers.cohere import CohereProvider
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind
from tests.fakes.cohere_upstream import (
    TRIAL_MINUTE_LIMIT,
    TRIAL_MONTH_LIMIT,
    CohereUpstream,
    ToolCall,
)
from tests.fakes.loopback import Answer, Reply

KEY = "co-fake-cohere-key-0123456789abcdef"
MODEL = "command-a-03-2025"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}  # fmt: skip
CLOCK = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture
async def up() -> AsyncIterator[CohereUpstream]:
    async with CohereUpstream(api_key=KEY, trial=True) as upstream:
        yield upstream


def provider(
    up: CohereUpstream, client: httpx.AsyncClient, *, key: str = KEY, **timeouts: float
) -> CohereProvider:
    return CohereProvider(
        "cohere", base_url=up.base_url, api_key=key, client=client, clock=RealClock(),
        timeouts=Timeouts(**timeouts),
    )  # fmt: skip


def ask(text: str = "What is the capital of France?", **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **kw)


async def drain(chunks: AsyncIterator[ChatChunk]) -> tuple[list[ChatChunk], ProviderError | None]:
    got: list[ChatChunk] = []
    try:
        async for c in chunks:
            got.append(c)
    except ProviderError as exc:
        return got, exc
    return got, None


# --------------------------------------------------------------------------- completions


async def test_plain_completion_returns_text_usage_and_trial_headroom(up, http_client):
    up.answer("Paris is the capital of France.", prompt_tokens=12, completion_tokens=7)
    resp = await provider(up, http_client).complete(ask(), MODEL)
    assert resp.content == "Paris is the capital of France."
    assert resp.finish_reason == "stop"
    # `billed_units` (what Cohere bills) wins over `tokens` (its preamble included)
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (12, 7)
    assert resp.id
    assert resp.ratelimit is not None
    assert (resp.ratelimit.limit_requests, resp.ratelimit.remaining_requests) == (20, 19)
    rec = up.requests[0]
    assert rec.path == "/v2/chat" and rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.body == {"model": MODEL, "messages": [
        {"role": "user", "content": "What is the capital of France?"}]}  # fmt: skip


async def test_configured_provider_reads_its_key_from_the_environment(up, http_client, monkeypatch):
    monkeypatch.setenv("AXTUI_TEST_COHERE_KEY", KEY)
    cfg = ProviderConfig(
        protocol="cohere", base_url=up.base_url, api_key_env="AXTUI_TEST_COHERE_KEY"
    )
    up.answer("Rome.")
    cohere = build_provider("cohere-trial", cfg, http_client, RealClock())
    assert isinstance(cohere, CohereProvider)
    assert (await cohere.complete(ask(), MODEL)).content == "Rome."
    assert up.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_adapter_without_a_shared_client_makes_and_closes_its_own(up):
    adapter = CohereProvider(
        "cohere", base_url=up.base_url, api_key=KEY, client=None, clock=RealClock()
    )
    up.answer("Rome.")
    assert (await adapter.complete(ask(), MODEL)).content == "Rome."
    own = adapter.client
    assert own is not None
    await adapter.aclose()
    assert own.is_closed and adapter.client is None


async def test_billed_units_are_the_usage_when_tokens_are_absent(up, http_client):
    body = {"id": "r1", "finish_reason": "MAX_TOKENS",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Par"}]},
            "usage": {"billed_units": {"input_tokens": 9, "output_tokens": 1}}}  # fmt: skip
    up.push(Reply(body=orjson.dumps(body)))
    resp = await provider(up, http_client).complete(ask(max_tokens=1), MODEL)
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (9, 1)
    assert resp.finish_reason == "length"


async def test_messages_and_sampling_translate_to_v2_names(up, http_client):
    req = ChatRequest(
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Bonjour !"},
            {"role": "user", "content": [{"type": "text", "text": "Capital of Italy?"}]},
        ],
        max_tokens=64, temperature=0.2, top_p=0.9, stop=["END"],
        response_format={"type": "json_schema", "json_schema": {
            "name": "place", "schema": {"type": "object"}}},
    )  # fmt: skip
    up.answer('{"city": "Rome"}')
    await provider(up, http_client).complete(req, MODEL)
    body = up.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": [{"type": "text", "text": "Capital of Italy?"}]},
    ]
    assert (body["max_tokens"], body["temperature"], body["p"], body["stop_sequences"]) == (
        64, 0.2, 0.9, ["END"])  # fmt: skip
    assert body["response_format"] == {"type": "json_object", "json_schema": {"type": "object"}}


# --------------------------------------------------------------------------- tools


async def test_named_tool_choice_offers_only_that_tool_and_requires_it(up, http_client):
    req = ask("Weather in Paris?", tools=[WEATHER, CLOCK],
              tool_choice={"type": "function", "function": {"name": "get_weather"}})  # fmt: skip
    up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    await provider(up, http_client).complete(req, MODEL)
    body = up.requests[0].body
    assert body["tool_choice"] == "REQUIRED"
    assert body["tools"] == [WEATHER]


async def test_tool_call_response_becomes_openai_tool_calls(up, http_client):
    up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="get_weather_p4k")])
    resp = await provider(up, http_client).complete(ask(tools=[WEATHER]), MODEL)
    assert resp.finish_reason == "tool_calls"
    assert resp.content == "I will call the tools to answer."  # Cohere's tool_plan
    assert resp.tool_calls == [{"id": "get_weather_p4k", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city":"Paris"}'}}]  # fmt: skip


async def test_tool_calls_and_results_travel_back_as_v2_messages(up, http_client):
    call = {"id": "get_weather_p4k", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    req = ChatRequest(tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "get_weather_p4k", "content": '{"temp_c": 18}'},
    ])  # fmt: skip
    up.answer("18 C in Paris.")
    resp = await provider(up, http_client).complete(req, MODEL)
    assert resp.content == "18 C in Paris."
    assert up.requests[0].body["messages"][1:] == [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "get_weather_p4k", "content": '{"temp_c": 18}'},
    ]


# --------------------------------------------------------------------------- streaming


async def test_streaming_text_arrives_in_pieces_with_usage_at_the_end(up, http_client):
    text = "Paris is the capital and the largest city of France."
    up.answer(text, prompt_tokens=10, completion_tokens=11)
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert err is None
    assert up.requests[0].body["stream"] is True
    assert len([c for c in chunks if c.content]) > 1
    assert "".join(c.content or "" for c in chunks) == text
    assert chunks[0].ratelimit is not None and chunks[0].ratelimit.remaining_requests == 19
    assert all(c.usage is None and c.finish_reason is None for c in chunks[:-1])
    assert chunks[-1].finish_reason == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (10, 11)


async def test_streaming_tool_call_deltas_assemble_into_the_call(up, http_client):
    up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris", "unit": "celsius"})])
    chunks, err = await drain(provider(up, http_client).stream(ask(tools=[WEATHER]), MODEL))
    assert err is None
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert len(deltas) > 2  # the start, then argument fragments
    assert {d["index"] for d in deltas} == {0}
    assert deltas[0]["id"].startswith("get_weather_")
    assert deltas[0]["function"]["name"] == "get_weather"
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert orjson.loads(arguments) == {"city": "Paris", "unit": "celsius"}
    assert chunks[-1].finish_reason == "tool_calls"


async def test_stream_cut_mid_way_raises_after_the_chunks_received(up, http_client):
    up.cut("one two three four five six seven eight", after_events=4)
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    # message-start and content-start carry no text: two words got through
    assert "".join(c.content or "" for c in chunks) == "one two "
    assert err is not None and err.kind is ErrorKind.malformed


async def test_stream_that_ends_before_message_end_is_malformed(up, http_client):
    up.push(lambda rec: _without_last_event(up.render(Answer("one two three"), rec)))
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert chunks and err is not None and err.kind is ErrorKind.malformed


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "message", "headers", "kind", "retry_after", "retryable"),
    [
        (429, TRIAL_MINUTE_LIMIT, {"retry-after": "12"}, ErrorKind.rate_limited, 12.0, True),
        (429, TRIAL_MONTH_LIMIT, {}, ErrorKind.rate_limited, None, False),
        (400, "too many tokens: total number of tokens in the prompt cannot exceed 128000 - "
         "received 130412. Try using a shorter prompt", {}, ErrorKind.context_length, None, True),
        (400, "invalid request: message must be at least 1 token long", {},
         ErrorKind.bad_request, None, True),
        (401, "invalid api token", {}, ErrorKind.auth, None, True),
        (498, "invalid api token", {}, ErrorKind.auth, None, True),
        (499, "request cancelled", {}, ErrorKind.server, None, True),
        (404, "model 'command-x' not found, make sure the correct model ID was used", {},
         ErrorKind.not_found, None, True),
        (500, "internal server error, this has been reported to our developers", {},
         ErrorKind.server, None, True),
        (503, "service unavailable", {}, ErrorKind.overloaded, None, True),
    ],
    ids=["trial-per-minute", "trial-per-month", "too-many-tokens", "bad-request",
         "unauthorized", "invalid-token-498", "client-closed-499", "unknown-model",
         "internal", "unavailable"],
)  # fmt: skip
async def test_error_body_maps_to_kind_and_retry_after(
    up, http_client, status, message, headers, kind, retry_after, retryable
):
    up.error(status, message, headers=headers)
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client).complete(ask(), MODEL)
    err = info.value
    assert (err.kind, err.status, err.retry_after_s, err.retryable) == (
        kind, status, retry_after, retryable)  # fmt: skip
    assert message[:20] in err.message


async def test_legacy_error_body_without_id_still_reads(up, http_client):
    up.error(429, TRIAL_MINUTE_LIMIT, with_id=False)
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert chunks == [] and err is not None
    assert err.kind is ErrorKind.rate_limited and "Trial key" in err.message


async def test_wrong_api_key_is_auth_and_never_in_the_error(up, http_client):
    wrong = "co-wrong-key-abcdef0123456789"
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client, key=wrong).complete(ask(), MODEL)
    assert info.value.kind is ErrorKind.auth
    assert wrong not in str(info.value) and wrong not in repr(info.value)


async def test_api_key_echoed_by_the_upstream_never_reaches_the_error(up, http_client):
    up.error(401, f"invalid api token {KEY}")
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client).complete(ask(), MODEL)
    assert KEY not in str(info.value) and "[redacted]" in info.value.message


async def test_malformed_json_body_is_malformed(up, http_client):
    up.raw(200, b'{"id": "r1", "message": {"role": "assistant", "content": [')
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client).complete(ask(), MODEL)
    assert info.value.kind is ErrorKind.malformed


async def test_response_of_the_wrong_shape_is_malformed(up, http_client):
    up.raw(200, b'{"id": "r1", "text": "a v1 answer"}')
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client).complete(ask(), MODEL)
    assert info.value.kind is ErrorKind.malformed


async def test_malformed_stream_event_is_malformed(up, http_client):
    up.push(Reply(events=[b'event: content-delta\ndata: {"type": "content-delta", "delta\n\n']))
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert chunks == [] and err is not None and err.kind is ErrorKind.malformed


# --------------------------------------------------------------------------- timeouts


async def test_slow_upstream_times_out_within_the_read_timeout(up, http_client):
    up.answer("late", delay_s=2.0)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client, read=0.2).complete(ask(), MODEL)
    assert info.value.kind is ErrorKind.timeout
    assert time.monotonic() - started < 1.0


async def test_stalled_stream_times_out_within_the_read_timeout(up, http_client):
    up.answer("one two three four", event_delay_s=2.0)
    started = time.monotonic()
    _, err = await drain(provider(up, http_client, read=0.2).stream(ask(), MODEL))
    assert err is not None and err.kind is ErrorKind.timeout
    assert time.monotonic() - started < 1.0


# --------------------------------------------------------------------------- helpers


def _without_last_event(reply: Reply) -> Reply:
    assert reply.events is not None and b"message-end" in reply.events[-1]
    reply.events.pop()
    return reply
