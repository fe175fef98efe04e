"""The openai adapter against a loopback server speaking OpenAI's wire format."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from axtui.clock import RealClock
from axtui.config import ProviderConfig
from axtui.providers import build_provider
from axtui.providers.base import ChatChunk, ChatRequest, Timeouts
from axtui.providers.errors import ProviderError
from axtui.providers.openai import OpenAIProvider
from axtui.records import ErrorKind
from tests.fakes.openai_upstream import OpenAIUpstream, ToolCall, openai_ratelimit_headers

KEY = "sk-test-0123456789abcdef0123456789"
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
async def up() -> AsyncIterator[OpenAIUpstream]:
    async with OpenAIUpstream() as server:
        yield server


def make(
    up: OpenAIUpstream,
    client: httpx.AsyncClient,
    *,
    api_key: str | None = KEY,
    timeouts: Timeouts = Timeouts(),
) -> OpenAIProvider:
    return OpenAIProvider(
        "openai",
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


# ------------------------------------------------------------------- completions


async def test_plain_completion_returns_content_usage_and_model(up, http_client):
    up.answer("Hello there.", prompt_tokens=11, completion_tokens=3, cached_tokens=4)
    resp = await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert resp.content == "Hello there."
    assert resp.finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 3)
    assert resp.usage.cached_prompt_tokens == 4
    assert resp.model == "gpt-4o-mini"
    assert resp.id.startswith("chatcmpl-")
    assert resp.tool_calls == []


async def test_request_goes_to_chat_completions_with_bearer_key(up, http_client):
    await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    sent = up.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {"model": "gpt-4o-mini", "messages": HELLO}


async def test_sampling_parameters_pass_through(up, http_client):
    req = ChatRequest(
        HELLO,
        max_tokens=50,
        temperature=0.3,
        top_p=0.9,
        stop=["\n\n"],
        response_format={"type": "json_object"},
        user="u-42",
    )
    await make(up, http_client).complete(req, "gpt-4o-mini")
    body = up.requests[-1].body
    assert {
        k: body[k]
        for k in ("max_tokens", "temperature", "top_p", "stop", "response_format", "user")
    } == {
        "max_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "response_format": {"type": "json_object"},
        "user": "u-42",
    }
    assert "stream" not in body


async def test_missing_api_key_env_sends_no_authorization_header(up, http_client, monkeypatch):
    monkeypatch.delenv("AXTUI_TEST_OPENAI_KEY", raising=False)
    cfg = ProviderConfig(
        protocol="openai", base_url=up.base_url, api_key_env="AXTUI_TEST_OPENAI_KEY"
    )
    provider = build_provider("local-vllm", cfg, http_client, RealClock())
    resp = await provider.complete(ChatRequest(HELLO), "llama-3.1-8b")
    assert resp.content
    assert "authorization" not in up.requests[-1].headers


async def test_tool_call_round_trip(up, http_client):
    history = [
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 3}'},
    ]
    up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_2")])
    req = ChatRequest(history, tools=[WEATHER_TOOL], tool_choice="required")
    resp = await make(up, http_client).complete(req, "gpt-4o")

    body = up.requests[-1].body
    assert body["messages"] == history
    assert body["tools"] == [WEATHER_TOOL]
    assert body["tool_choice"] == "required"
    assert resp.finish_reason == "tool_calls"
    assert resp.content is None
    assert resp.tool_calls == [
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]


# ------------------------------------------------------------------- streaming


async def test_streaming_text_yields_deltas_then_usage_on_final_chunk(up, http_client):
    up.answer("One two three four.", prompt_tokens=9, completion_tokens=5)
    chunks = await collect(make(up, http_client).stream(ChatRequest(HELLO), "gpt-4o-mini"))
    assert "".join(c.content or "" for c in chunks) == "One two three four."
    assert len([c for c in chunks if c.content]) == 4
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (9, 5)
    assert all(c.finish_reason is None and c.usage is None for c in chunks[:-1])
    body = up.requests[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_streaming_tool_calls_arrive_as_indexed_deltas(up, http_client):
    args = {"city": "San Francisco", "unit": "celsius"}
    up.answer(tool_calls=[ToolCall("get_weather", args, id="call_9")])
    req = ChatRequest(HELLO, tools=[WEATHER_TOOL])
    chunks = await collect(make(up, http_client).stream(req, "gpt-4o"))
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert deltas[0]["index"] == 0 and deltas[0]["id"] == "call_9"
    assert deltas[0]["function"]["name"] == "get_weather"
    assert len(deltas) > 2  # the arguments arrive in fragments
    assert all(d["index"] == 0 for d in deltas)
    arguments = "".join(d["function"].get("arguments", "") for d in deltas)
    assert json.loads(arguments) == args
    assert chunks[-1].finish_reason == "tool_calls"


async def test_first_stream_chunk_carries_ratelimit(up, http_client):
    up.answer(
        "Hi there.", headers=openai_ratelimit_headers(remaining_requests=7, reset_tokens="6m0s")
    )
    chunks = await collect(make(up, http_client).stream(ChatRequest(HELLO), "gpt-4o-mini"))
    rl = chunks[0].ratelimit
    assert rl is not None
    assert rl.remaining_requests == 7 and rl.reset_tokens_s == 360.0
    assert all(c.ratelimit is None for c in chunks[1:])


async def test_completion_carries_ratelimit(up, http_client):
    up.answer("Hi.", headers=openai_ratelimit_headers(limit_tokens=30000, remaining_tokens=100))
    resp = await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert resp.ratelimit is not None
    assert (resp.ratelimit.limit_tokens, resp.ratelimit.remaining_tokens) == (30000, 100)
    assert resp.ratelimit.reset_requests_s == pytest.approx(0.12)


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "message", "code", "kind"),
    [
        (
            400,
            "This model's maximum context length is 128000 tokens.",
            "context_length_exceeded",
            ErrorKind.context_length,
        ),
        (
            400,
            "Your request was rejected by our safety system.",
            "content_policy_violation",
            ErrorKind.content_policy,
        ),
        (400, "Invalid value for 'temperature'.", "invalid_value", ErrorKind.bad_request),
        (401, "Invalid authentication", "invalid_api_key", ErrorKind.auth),
        (
            403,
            "Country, region, or territory not supported",
            "unsupported_country_region_territory",
            ErrorKind.auth,
        ),
        (404, "The model `gpt-9` does not exist", "model_not_found", ErrorKind.not_found),
        (429, "Rate limit reached for requests", "rate_limit_exceeded", ErrorKind.rate_limited),
        (500, "The server had an error while processing your request.", None, ErrorKind.server),
        (
            503,
            "The engine is currently overloaded, please try again later",
            None,
            ErrorKind.overloaded,
        ),
    ],
)
async def test_error_status_maps_to_kind(up, http_client, status, message, code, kind):
    up.error(status, message, code=code)
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    err = info.value
    assert (err.kind, err.status) == (kind, status)
    assert message in err.message


async def test_429_parses_retry_after_and_ratelimit_headers(up, http_client):
    headers = openai_ratelimit_headers(remaining_requests=0, reset_requests="6m0s")
    up.error(
        429,
        "Rate limit reached",
        code="rate_limit_exceeded",
        headers={**headers, "retry-after-ms": "1500", "retry-after": "2"},
    )
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    err = info.value
    assert err.kind is ErrorKind.rate_limited
    assert err.retry_after_s == 1.5  # retry-after-ms is the more precise of the two
    assert err.ratelimit is not None
    assert (err.ratelimit.remaining_requests, err.ratelimit.reset_requests_s) == (0, 360.0)
    assert err.retryable


async def test_429_without_retry_after_waits_for_the_exhausted_limit_reset(up, http_client):
    headers = openai_ratelimit_headers(
        remaining_tokens=0, reset_tokens="1m30s", remaining_requests=10, reset_requests="1s"
    )
    up.error(429, "Rate limit reached for tokens", type="tokens", headers=headers)
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert info.value.retry_after_s == 90.0


async def test_exhausted_billing_quota_is_not_retryable(up, http_client):
    up.error(
        429, "You exceeded your current quota", type="insufficient_quota", code="insufficient_quota"
    )
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert info.value.kind is ErrorKind.rate_limited
    assert info.value.retryable is False


async def test_error_status_on_a_stream_request_raises_before_any_chunk(up, http_client):
    up.error(503, "The engine is currently overloaded", headers={"retry-after": "4"})
    chunks, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), "m"))
    assert chunks == []
    assert (err.kind, err.retry_after_s) == (ErrorKind.overloaded, 4.0)


async def test_401_echoing_the_whole_key_is_redacted(http_client):
    key = "plain-secret-value-0042"  # not key-shaped: only the adapter's own key can hide it
    async with OpenAIUpstream(api_key="the-right-key", echo_full_key=True) as up:
        with pytest.raises(ProviderError) as info:
            await make(up, http_client, api_key=key).complete(ChatRequest(HELLO), "gpt-4o-mini")
    err = info.value
    assert err.kind is ErrorKind.auth
    assert "Incorrect API key provided" in err.message
    assert key not in str(err) and key not in repr(err)


async def test_401_echoing_a_masked_key_is_redacted(http_client):
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789WXYZ"
    async with OpenAIUpstream(api_key="sk-proj-other") as up:
        with pytest.raises(ProviderError) as info:
            await make(up, http_client, api_key=key).complete(ChatRequest(HELLO), "gpt-4o-mini")
    msg = str(info.value)
    assert "Incorrect API key provided" in msg
    assert "sk-proj-" not in msg and "WXYZ" not in msg


async def test_malformed_json_body_is_malformed(up, http_client):
    up.raw(200, b'{"id": "chatcmpl-1", "choices": [{"message": ')
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert info.value.kind is ErrorKind.malformed


async def test_completion_of_the_wrong_shape_is_malformed(up, http_client):
    up.raw(200, b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": []}')
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert (info.value.kind, info.value.status) == (ErrorKind.malformed, 200)


async def test_html_error_page_from_a_proxy_maps_by_status(up, http_client):
    up.raw(502, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    with pytest.raises(ProviderError) as info:
        await make(up, http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert (info.value.kind, info.value.status) == (ErrorKind.server, 502)


async def test_stream_cut_midway_raises_after_the_chunks_received(up, http_client):
    up.cut("alpha beta gamma delta epsilon", after_events=3)  # role frame + 2 words
    chunks, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), "m"))
    assert [c.content for c in chunks] == ["alpha ", "beta "]
    assert err.kind is ErrorKind.malformed


async def test_stream_ending_without_done_or_finish_is_malformed(up, http_client):
    frame = (
        b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
        b'"delta":{"content":"partial"},"finish_reason":null}]}\n\n'
    )
    up.raw(200, frame, content_type="text/event-stream")
    chunks, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), "m"))
    assert [c.content for c in chunks] == ["partial"]
    assert err.kind is ErrorKind.malformed


async def test_error_event_inside_a_stream_raises_mapped_error(up, http_client):
    up.stream_error(
        "Half an", "Rate limit reached for tokens", type="tokens", code="rate_limit_exceeded"
    )
    chunks, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), "m"))
    assert "".join(c.content or "" for c in chunks) == "Half an"
    assert err.kind is ErrorKind.rate_limited
    assert err.status is None


async def test_stream_request_answered_with_json_is_malformed(up, http_client):
    up.raw(200, b'{"id": "chatcmpl-1", "choices": []}')
    _, err = await collect_until_error(make(up, http_client).stream(ChatRequest(HELLO), "m"))
    assert err.kind is ErrorKind.malformed


# ------------------------------------------------------------------- timeouts and transport


async def test_slow_headers_time_out_within_the_read_timeout(up, http_client):
    up.answer("late", delay_s=5.0)
    provider = make(up, http_client, timeouts=Timeouts(connect=1.0, read=0.2, total=10.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProviderError) as info:
        await provider.complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert info.value.kind is ErrorKind.timeout
    assert loop.time() - started < 1.0


async def test_stalled_stream_times_out_after_the_chunks_received(up, http_client):
    up.answer("fast words then nothing", event_delay_s=5.0, slow_from=3)  # role + 2 words
    provider = make(up, http_client, timeouts=Timeouts(connect=1.0, read=0.2, total=10.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    chunks, err = await collect_until_error(provider.stream(ChatRequest(HELLO), "m"))
    assert err.kind is ErrorKind.timeout
    assert [c.content for c in chunks] == ["fast ", "words "]
    assert loop.time() - started < 1.0


async def test_trickling_stream_is_stopped_by_the_total_timeout(up, http_client):
    up.answer(" ".join(["word"] * 40), event_delay_s=0.05)  # ~2 s in all, never stalls
    provider = make(up, http_client, timeouts=Timeouts(connect=1.0, read=0.5, total=0.4))
    loop = asyncio.get_running_loop()
    started = loop.time()
    chunks, err = await collect_until_error(provider.stream(ChatRequest(HELLO), "m"))
    assert err.kind is ErrorKind.timeout
    assert 2 <= len(chunks) < 40
    assert loop.time() - started < 1.0


async def test_refused_connection_is_a_connect_error(http_client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = OpenAIProvider(
        "openai",
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=KEY,
        client=http_client,
        clock=RealClock(),
    )
    with pytest.raises(ProviderError) as info:
        await provider.complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert info.value.kind is ErrorKind.connect


# ------------------------------------------------------------------- the fake as a load target


async def test_default_answer_serves_concurrent_requests_with_usage(http_client):
    async with OpenAIUpstream(latency_s=0.02, record=False) as up:
        provider = make(up, http_client)
        replies = await asyncio.gather(
            *(
                provider.complete(ChatRequest(HELLO, max_tokens=200), "gpt-4o-mini")
                for _ in range(64)
            )
        )
        assert up.served == 64 and up.received == 64 and up.requests == []
    assert all(r.content == replies[0].content and r.content for r in replies)
    assert all(r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0 for r in replies)


async def test_default_answer_respects_max_tokens(up, http_client):
    resp = await make(up, http_client).complete(ChatRequest(HELLO, max_tokens=2), "gpt-4o-mini")
    assert resp.finish_reason == "length"
    assert resp.usage.completion_tokens <= 2


async def test_adapter_without_a_shared_client_makes_and_closes_its_own(up):
    provider = OpenAIProvider(
        "openai", base_url=up.base_url, api_key=KEY, client=None, clock=RealClock()
    )
    assert (await provider.complete(ChatRequest(HELLO), "gpt-4o-mini")).content
    own = provider.client
    assert own is not None
    await provider.aclose()
    assert own.is_closed and provider.client is None


@pytest.mark.parametrize("model", ["o3-mini", "o1", "o4-mini", "gpt-5-nano", "openai/o3"])
async def test_reasoning_models_get_max_completion_tokens(up, http_client, model):
    await make(up, http_client).complete(ChatRequest(HELLO, max_tokens=50), model)
    body = up.requests[-1].body
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body


async def test_other_models_keep_max_tokens(up, http_client):
    await make(up, http_client).complete(ChatRequest(HELLO, max_tokens=50), "llama-3.1-8b")
    assert up.requests[-1].body["max_tokens"] == 50
