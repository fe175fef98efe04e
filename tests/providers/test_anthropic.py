"""The anthropic adapter against a loopback server speaking the Messages API wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from axtui.clock import RealClock
from axtui.providers.anthropic import AnthropicProvider
from axtui.providers.base import ChatChunk, ChatRequest, Timeouts
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind
from tests.fakes.anthropic_upstream import (
    AnthropicUpstream,
    ToolCall,
    anthropic_ratelimit_headers,
)

KEY = "sk-ant-api03-test-0123456789abcdef"
MODEL = "claude-3-5-haiku-latest"
HELLO = [{"role": "user", "content": "Say hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
async def up() -> AsyncIterator[AnthropicUpstream]:
    async with AnthropicUpstream(api_key=KEY) as server:
        yield server


def make(
    up: AnthropicUpstream,
    client: httpx.AsyncClient,
    *,
    api_key: str | None = KEY,
    timeouts: Timeouts = Timeouts(),
) -> AnthropicProvider:
    return AnthropicProvider(
        "anthropic",
        base_url=up.base_url,
        api_key=api_key,
        client=client,
        clock=RealClock(),
        timeouts=timeouts,
    )


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [c async for c in stream]


async def collect_until_error(
    stream: AsyncIterator[ChatChunk],
) -> tuple[list[ChatChunk], ProviderError]:
    chunks: list[ChatChunk] = []
    with pytest.raises(ProviderError) as info:
        async for c in stream:
            chunks.append(c)
    return chunks, info.value


# ------------------------------------------------------------------- requests and completions


async def test_plain_completion_returns_content_usage_and_finish(up, http_client):
    up.answer("Hello there.", prompt_tokens=12, completion_tokens=4)
    resp = await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    assert resp.content == "Hello there."
    assert resp.finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (12, 4)
    assert resp.model == MODEL and resp.id.startswith("msg_")
    assert resp.tool_calls == []


async def test_request_carries_key_version_and_default_max_tokens(up, http_client):
    await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    sent = up.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": MODEL,
        "max_tokens": 4096,  # no catalog limit given: the smallest of any Claude model
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}],
    }


async def test_system_messages_become_the_top_level_system_prompt(up, http_client):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]},
        *HELLO,
    ]
    await make(up, http_client).complete(ChatRequest(messages), MODEL)
    body = up.requests[-1].body
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert [m["role"] for m in body["messages"]] == ["user"]


async def test_sampling_parameters_translate(up, http_client):
    req = ChatRequest(HELLO, max_tokens=64, temperature=0.2, top_p=0.8, stop=["END"], user="u-1")
    await make(up, http_client).complete(req, MODEL)
    body = up.requests[-1].body
    assert body["max_tokens"] == 64
    assert (body["temperature"], body["top_p"]) == (0.2, 0.8)
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert "stop" not in body and "user" not in body


async def test_image_parts_become_image_blocks(up, http_client):
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    await make(up, http_client).complete(ChatRequest([{"role": "user", "content": content}]), MODEL)
    blocks = up.requests[-1].body["messages"][0]["content"]
    assert blocks == [
        {"type": "text", "text": "What is in these?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


async def test_tool_call_round_trip(up, http_client):
    history = [
        *HELLO,
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": '{"temp_c": 3}'},
        {"role": "tool", "tool_call_id": "toolu_2", "content": '{"temp_c": 18}'},
    ]
    up.answer("Let me look.", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_3")])
    req = ChatRequest(history, tools=[WEATHER_TOOL], tool_choice="auto")
    resp = await make(up, http_client).complete(req, MODEL)

    body = up.requests[-1].body
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temp_c": 3}'},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": '{"temp_c": 18}'},
        ],
    }
    assert len(body["messages"]) == 3

    assert resp.finish_reason == "tool_calls"
    assert resp.content == "Let me look."
    assert resp.tool_calls == [
        {
            "id": "toolu_3",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]


@pytest.mark.parametrize(
    ("openai_choice", "anthropic_choice"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
async def test_tool_choice_translates(up, http_client, openai_choice, anthropic_choice):
    req = ChatRequest(HELLO, tools=[WEATHER_TOOL], tool_choice=openai_choice)
    await make(up, http_client).complete(req, MODEL)
    assert up.requests[-1].body["tool_choice"] == anthropic_choice


async def test_cache_reads_count_as_cached_prompt_tokens(up, http_client):
    up.answer("Cached.", prompt_tokens=1000, completion_tokens=2, cached_tokens=800)
    resp = await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    assert resp.usage.prompt_tokens == 1000  # input_tokens (200) + cache reads (800)
    assert resp.usage.cached_prompt_tokens == 800


async def test_cache_writes_count_within_prompt_tokens_and_apart(up, http_client):
    up.answer("Written.", prompt_tokens=1000, completion_tokens=2, cached_tokens=300,
              cache_write_tokens=600)
    resp = await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    assert resp.usage.prompt_tokens == 1000  # input (100) + cache reads + cache writes
    assert resp.usage.cached_prompt_tokens == 300
    assert resp.usage.cache_write_tokens == 600


async def test_stop_sequence_that_ended_the_answer_is_named(up, http_client):
    up.answer("The list: one, two", stop_sequence="\n\n")
    resp = await make(up, http_client).complete(ChatRequest(HELLO, stop=["\n\n", "END"]),
                                                MODEL)
    assert resp.finish_reason == "stop"  # OpenAI's shape has no stop_sequence reason
    assert resp.stop_sequence == "\n\n"


async def test_an_answer_that_ended_its_turn_names_no_stop_sequence(up, http_client):
    up.answer("Done.")
    resp = await make(up, http_client).complete(ChatRequest(HELLO, stop=["END"]), MODEL)
    assert resp.finish_reason == "stop" and resp.stop_sequence is None


async def test_max_tokens_stop_reason_is_length(up, http_client):
    up.answer("Cut short", finish_reason="max_tokens")
    resp = await make(up, http_client).complete(ChatRequest(HELLO, max_tokens=3), MODEL)
    assert resp.finish_reason == "length"


# ------------------------------------------------------------------- streaming


async def test_streaming_text_yields_deltas_then_usage_on_final_chunk(up, http_client):
    up.answer("One two three.", prompt_tokens=21, completion_tokens=6)
    chunks = await collect(make(up, http_client).stream(ChatRequest(HELLO), MODEL))
    assert [c.content for c in chunks[:-1]] == ["One ", "two ", "three."]
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (21, 6)
    assert up.requests[-1].body["stream"] is True
    assert final.stop_sequence is None


async def test_streamed_stop_sequence_and_cache_writes_arrive_on_the_final_chunk(
    up, http_client
):
    up.answer("One two", prompt_tokens=900, completion_tokens=2, cached_tokens=100,
              cache_write_tokens=700, stop_sequence="three")
    chunks = await collect(make(up, http_client).stream(
        ChatRequest(HELLO, stop=["three"]), MODEL))
    final = chunks[-1]
    assert (final.finish_reason, final.stop_sequence) == ("stop", "three")
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.cached_prompt_tokens,
            final.usage.cache_write_tokens) == (900, 100, 700)
    assert all(c.stop_sequence is None for c in chunks[:-1])


async def test_streaming_tool_calls_arrive_as_indexed_deltas(up, http_client):
    up.answer(
        "Sure.",
        tool_calls=[
            ToolCall("get_weather", {"city": "San Francisco"}, id="toolu_a"),
            ToolCall("get_time", {"tz": "Europe/Paris"}, id="toolu_b"),
        ],
    )
    req = ChatRequest(HELLO, tools=[WEATHER_TOOL])
    chunks = await collect(make(up, http_client).stream(req, MODEL))
    assert "".join(c.content or "" for c in chunks) == "Sure."
    deltas = [d for c in chunks for d in c.tool_calls or []]
    heads = [d for d in deltas if "id" in d]
    assert [(d["index"], d["id"], d["function"]["name"]) for d in heads] == [
        (0, "toolu_a", "get_weather"),
        (1, "toolu_b", "get_time"),
    ]
    for index, args in ((0, {"city": "San Francisco"}), (1, {"tz": "Europe/Paris"})):
        mine = [d for d in deltas if d["index"] == index]
        assert "id" in mine[0]  # the id and name come before any argument fragment
        assert json.loads("".join(d["function"]["arguments"] for d in mine)) == args
    assert chunks[-1].finish_reason == "tool_calls"


async def test_first_stream_chunk_carries_ratelimit(up, http_client):
    up.answer("Hi there.", headers=anthropic_ratelimit_headers(remaining_requests=3))
    chunks = await collect(make(up, http_client).stream(ChatRequest(HELLO), MODEL))
    assert chunks[0].ratelimit is not None
    assert chunks[0].ratelimit.remaining_requests == 3
    assert all(c.ratelimit is None for c in chunks[1:])


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "prompt is too long: 215000 tokens > 200000 maximum", ErrorKind.context_length),
        (400, "messages.1.content: Field required", ErrorKind.bad_request),
        (401, "invalid x-api-key", ErrorKind.auth),
        (
            403,
            "Your API key does not have permission to use the specified resource.",
            ErrorKind.auth,
        ),
        (404, "model: claude-9", ErrorKind.not_found),
        (413, "Request exceeds the maximum allowed number of bytes.", ErrorKind.context_length),
        (
            429,
            "Number of request tokens has exceeded your per-minute rate limit",
            ErrorKind.rate_limited,
        ),
        (500, "Internal server error", ErrorKind.server),
        (529, "Overloaded", ErrorKind.overloaded),
    ],
)
async def test_error_status_maps_to_kind(up, http_client, status, message, kind):
    up.error(status, message)
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    assert (info.value.kind, info.value.status) == (kind, status)
    assert message in info.value.message


async def test_429_parses_retry_after_and_ratelimit_headers(up, http_client):
    now = datetime.now(UTC)
    headers = anthropic_ratelimit_headers(
        now=now, remaining_tokens=0, reset_tokens_in_s=40, retry_after="30"
    )
    up.error(429, "rate limited", headers=headers)
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    err = info.value
    assert (err.kind, err.retry_after_s) == (ErrorKind.rate_limited, 30.0)
    assert err.ratelimit is not None
    assert err.ratelimit.remaining_tokens == 0
    assert err.ratelimit.reset_tokens_s == pytest.approx(40, abs=2)


async def test_error_status_on_a_stream_request_raises_before_any_chunk(up, http_client):
    up.error(529, "Overloaded")
    chunks, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), MODEL))
    assert chunks == []
    assert err.kind is ErrorKind.overloaded


async def test_error_event_inside_a_stream_raises_mapped_error(up, http_client):
    up.stream_error("Partial answer", "Overloaded", type="overloaded_error")
    chunks, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), MODEL))
    assert "".join(c.content or "" for c in chunks) == "Partial answer"
    assert (err.kind, err.status) == (ErrorKind.overloaded, None)


async def test_wrong_key_is_auth_and_an_echoed_key_is_redacted(up, http_client):
    key = "plain-secret-value-0042"
    up.error(401, f"invalid x-api-key: {key}")
    with pytest.raises(ProviderError) as info:
        await make(up, http_client, api_key=key).complete(ChatRequest(HELLO), MODEL)
    assert info.value.kind is ErrorKind.auth
    assert key not in str(info.value) and key not in repr(info.value)


async def test_the_fake_refuses_a_wrong_key_like_the_real_api(up, http_client):
    with pytest.raises(ProviderError) as info:
        await make(up, http_client, api_key="wrong").complete(ChatRequest(HELLO), MODEL)
    assert (info.value.kind, info.value.message) == (ErrorKind.auth, "invalid x-api-key")


async def test_malformed_json_body_is_malformed(up, http_client):
    up.raw(200, b'{"id": "msg_1", "type": "message", "content": [')
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    assert info.value.kind is ErrorKind.malformed


async def test_message_of_the_wrong_shape_is_malformed(up, http_client):
    up.raw(200, b'{"id": "msg_1", "type": "message", "content": "not blocks"}')
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), MODEL)
    assert info.value.kind is ErrorKind.malformed


async def test_stream_cut_midway_raises_after_the_chunks_received(up, http_client):
    # message_start, content_block_start, ping, then two words, then the connection drops
    up.cut("alpha beta gamma delta", after_events=5)
    chunks, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), MODEL))
    assert [c.content for c in chunks] == ["alpha ", "beta "]
    assert err.kind is ErrorKind.malformed


async def test_slow_headers_time_out_within_the_read_timeout(up, http_client):
    up.answer("late", delay_s=5.0)
    provider = make(up, http_client, timeouts=Timeouts(connect=1.0, read=0.2, total=10.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProviderError) as info:
        await provider.complete(ChatRequest(HELLO), MODEL)
    assert info.value.kind is ErrorKind.timeout
    assert loop.time() - started < 1.0


async def test_stalled_stream_times_out_after_the_chunks_received(up, http_client):
    up.answer("fast words then nothing", event_delay_s=5.0, slow_from=5)
    provider = make(up, http_client, timeouts=Timeouts(connect=1.0, read=0.2, total=10.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    chunks, err = await collect_until_error(provider.stream(ChatRequest(HELLO), MODEL))
    assert err.kind is ErrorKind.timeout
    assert [c.content for c in chunks] == ["fast ", "words "]
    assert loop.time() - started < 1.0
