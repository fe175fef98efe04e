"""The Gemini adapter against a loopback Gemini that speaks the real wire format."""

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
from axtui.providers.errors import ProviderError
from axtui.providers.gemini import GeminiProvider
from axtui.records import ErrorKind
from tests.fakes.gemini_upstream import GeminiUpstream, ToolCall
from tests.fakes.loopback import Answer, Reply

KEY = "AIzaSyD3-fake-gemini-key-0123456789"
MODEL = "gemini-2.5-flash"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
async def up() -> AsyncIterator[GeminiUpstream]:
    async with GeminiUpstream(api_key=KEY) as upstream:
        yield upstream


def provider(
    up: GeminiUpstream, client: httpx.AsyncClient, *, key: str = KEY, **timeouts: float
) -> GeminiProvider:
    return GeminiProvider(
        "gemini", base_url=up.base_url, api_key=key, client=client, clock=RealClock(),
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


async def test_plain_completion_returns_text_usage_and_model(up, http_client):
    up.answer("Paris is the capital of France.", prompt_tokens=12, completion_tokens=7)
    resp = await provider(up, http_client).complete(ask(), MODEL)
    assert resp.content == "Paris is the capital of France."
    assert resp.finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (12, 7)
    assert resp.model == MODEL and resp.id.startswith("fake-")
    assert up.requests[0].path == f"/v1beta/models/{MODEL}:generateContent"
    assert up.requests[0].body["contents"] == [
        {"role": "user", "parts": [{"text": "What is the capital of France?"}]}
    ]


async def test_configured_provider_reads_its_key_from_the_environment(up, http_client, monkeypatch):
    monkeypatch.setenv("AXTUI_TEST_GEMINI_KEY", KEY)
    cfg = ProviderConfig(
        protocol="gemini", base_url=up.base_url, api_key_env="AXTUI_TEST_GEMINI_KEY"
    )
    up.answer("Rome.")
    gemini = build_provider("gemini-free", cfg, http_client, RealClock())
    assert isinstance(gemini, GeminiProvider)
    assert (await gemini.complete(ask(), MODEL)).content == "Rome."
    assert up.requests[0].headers["x-goog-api-key"] == KEY


async def test_adapter_without_a_shared_client_makes_and_closes_its_own(up):
    adapter = GeminiProvider(
        "gemini", base_url=up.base_url, api_key=KEY, client=None, clock=RealClock()
    )
    up.answer("Rome.")
    assert (await adapter.complete(ask(), MODEL)).content == "Rome."
    own = adapter.client
    assert own is not None
    await adapter.aclose()
    assert own.is_closed and adapter.client is None


async def test_thinking_tokens_count_as_completion_and_cached_tokens_are_reported(http_client):
    async with GeminiUpstream(thoughts_tokens=40) as up:
        up.answer("42", prompt_tokens=100, completion_tokens=2, cached_tokens=64)
        resp = await provider(up, http_client).complete(ask(), MODEL)
    assert resp.usage.completion_tokens == 42
    assert resp.usage.cached_prompt_tokens == 64


async def test_system_messages_become_system_instruction_and_roles_alternate(up, http_client):
    req = ChatRequest(messages=[
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Capital of Italy?"}]},
    ])  # fmt: skip
    up.answer("Rome.")
    await provider(up, http_client).complete(req, MODEL)
    body = up.requests[0].body
    assert body["systemInstruction"] == {"parts": [{"text": "Answer in French."},
                                                   {"text": "Be brief."}]}  # fmt: skip
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "Bonjour !"}]


async def test_sampling_and_json_schema_go_to_generation_config(up, http_client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    req = ask(max_tokens=64, temperature=0.2, top_p=0.9, stop=["END"],
              response_format={"type": "json_schema",
                               "json_schema": {"name": "place", "schema": schema}})  # fmt: skip
    up.answer('{"city": "Paris"}')
    await provider(up, http_client).complete(req, MODEL)
    assert up.requests[0].body["generationConfig"] == {
        "maxOutputTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"],
        "responseMimeType": "application/json", "responseJsonSchema": schema,
    }  # fmt: skip


async def test_image_data_url_becomes_inline_data(up, http_client):
    req = ChatRequest(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]}])  # fmt: skip
    up.answer("A very small PNG.")
    await provider(up, http_client).complete(req, MODEL)
    assert up.requests[0].body["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}
    }


# --------------------------------------------------------------------------- tools


async def test_tools_and_a_named_tool_choice_become_function_declarations(up, http_client):
    req = ask("Weather in Paris?", tools=[WEATHER],
              tool_choice={"type": "function", "function": {"name": "get_weather"}})  # fmt: skip
    up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    await provider(up, http_client).complete(req, MODEL)
    body = up.requests[0].body
    assert body["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Current weather for a city",
        "parametersJsonSchema": WEATHER["function"]["parameters"],
    }]}]  # fmt: skip
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


async def test_function_call_response_becomes_openai_tool_calls(up, http_client):
    up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"}),
                          ToolCall("get_weather", {"city": "Rome"})])  # fmt: skip
    resp = await provider(up, http_client).complete(ask("Paris and Rome?", tools=[WEATHER]), MODEL)
    assert resp.finish_reason == "tool_calls"
    assert resp.content is None
    assert [orjson.loads(c["function"]["arguments"]) for c in resp.tool_calls] == [
        {"city": "Paris"}, {"city": "Rome"}]  # fmt: skip
    assert all(c["type"] == "function" and c["function"]["name"] == "get_weather"
               for c in resp.tool_calls)  # fmt: skip
    ids = [c["id"] for c in resp.tool_calls]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2


async def test_tool_results_become_function_responses_named_by_their_call(up, http_client):
    req = ChatRequest(tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp_c": 18}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "sunny, 24 C"},
    ])  # fmt: skip
    up.answer("Paris 18 C, Rome sunny and 24 C.")
    resp = await provider(up, http_client).complete(req, MODEL)
    assert resp.content == "Paris 18 C, Rome sunny and 24 C."
    model_turn, results = up.requests[0].body["contents"][1:]
    assert model_turn["role"] == "model"
    assert [p["functionCall"] for p in model_turn["parts"]] == [
        {"name": "get_weather", "args": {"city": "Paris"}},
        {"name": "get_weather", "args": {"city": "Rome"}},
    ]
    # a history Gemini did not sign carries Google's documented stand-in on its first call
    signatures = [p.get("thoughtSignature") for p in model_turn["parts"]]
    assert signatures == ["skip_thought_signature_validator", None]
    assert results == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
        {"functionResponse": {"name": "get_weather", "response": {"output": "sunny, 24 C"}}},
    ]}  # fmt: skip


async def test_thought_signature_round_trips_through_the_tool_call(http_client):
    async with GeminiUpstream(sign_calls=True) as up:
        gemini = provider(up, http_client)
        up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
        first = await gemini.complete(ask("Weather in Paris?", tools=[WEATHER]), MODEL)
        call = first.tool_calls[0]
        signature = call["extra_content"]["google"]["thought_signature"]
        up.answer("18 C in Paris.")
        await gemini.complete(ChatRequest(tools=[WEATHER], messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 18}'},
        ]), MODEL)  # fmt: skip
    assert up.requests[1].body["contents"][1]["parts"][0]["thoughtSignature"] == signature


# --------------------------------------------------------------------------- streaming


async def test_streaming_text_arrives_in_pieces_with_usage_at_the_end(up, http_client):
    text = "Paris is the capital and the largest city of France."
    up.answer(text, prompt_tokens=10, completion_tokens=11)
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert err is None
    assert up.urls[0] == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    assert len([c for c in chunks if c.content]) > 1
    assert "".join(c.content or "" for c in chunks) == text
    assert all(c.usage is None and c.finish_reason is None for c in chunks[:-1])
    assert chunks[-1].finish_reason == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (10, 11)


async def test_streaming_function_call_arrives_as_a_tool_call_delta(up, http_client):
    up.answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    chunks, err = await drain(provider(up, http_client).stream(ask(tools=[WEATHER]), MODEL))
    assert err is None
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert len(deltas) == 1
    assert deltas[0]["index"] == 0 and deltas[0]["id"].startswith("call_")
    assert deltas[0]["function"]["name"] == "get_weather"
    assert orjson.loads(deltas[0]["function"]["arguments"]) == {"city": "Paris"}
    assert chunks[-1].finish_reason == "tool_calls"


async def test_error_event_mid_stream_raises_after_the_text_before_it(up, http_client):
    up.stream_error("Some words before the failure.", 503, "The model is overloaded.")
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert "".join(c.content or "" for c in chunks) == "Some words before the failure."
    assert err is not None and err.kind is ErrorKind.overloaded


async def test_stream_cut_mid_way_raises_after_the_chunks_received(up, http_client):
    up.cut("one two three four five six seven eight nine ten eleven twelve", after_events=2)
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert "".join(c.content or "" for c in chunks) == "one two three four five six "
    assert err is not None and err.kind is ErrorKind.malformed


async def test_stream_that_ends_before_a_finish_reason_is_malformed(up, http_client):
    up.push(lambda rec: _without_finish(up.render(Answer("one two three four"), rec)))
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert chunks and err is not None and err.kind is ErrorKind.malformed


# --------------------------------------------------------------------------- errors


def _per_minute(up: GeminiUpstream) -> None:
    up.rate_limited(retry_delay="34s")


def _per_day(up: GeminiUpstream) -> None:
    up.rate_limited(retry_delay="34s", per_day=True)


@pytest.mark.parametrize(
    ("script", "kind", "retry_after", "retryable"),
    [
        (_per_minute, ErrorKind.rate_limited, 34.0, True),
        (_per_day, ErrorKind.rate_limited, 34.0, False),
        (lambda up: up.error(403, "Permission denied on resource project."), ErrorKind.auth,
         None, True),
        (lambda up: up.error(400, "The input token count (1200000) exceeds the maximum number "
                             "of tokens allowed (1048576)."), ErrorKind.context_length, None, True),
        (lambda up: up.error(400, "Please use a valid role: user, model."),
         ErrorKind.bad_request, None, True),
        (lambda up: up.error(503, "The model is overloaded. Please try again later."),
         ErrorKind.overloaded, None, True),
        (lambda up: up.error(500, "An internal error has occurred."), ErrorKind.server, None,
         True),
        (lambda up: up.error(504, "Deadline expired before operation could complete."),
         ErrorKind.timeout, None, True),
        (lambda up: up.prompt_blocked("PROHIBITED_CONTENT"), ErrorKind.content_policy, None,
         True),
    ],
    ids=["per-minute-quota", "per-day-quota", "permission-denied", "token-count",
         "invalid-argument", "unavailable", "internal", "deadline", "prompt-blocked"],
)  # fmt: skip
async def test_error_body_maps_to_kind_and_retry_after(
    up, http_client, script, kind, retry_after, retryable
):
    script(up)
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client).complete(ask(), MODEL)
    err = info.value
    assert (err.kind, err.retry_after_s, err.retryable) == (kind, retry_after, retryable)


async def test_stream_errors_map_like_completions(up, http_client):
    _per_day(up)
    chunks, err = await drain(provider(up, http_client).stream(ask(), MODEL))
    assert chunks == []
    assert err is not None and err.kind is ErrorKind.rate_limited and err.status == 429
    assert err.retry_after_s == 34.0 and err.retryable is False


async def test_unknown_model_is_not_found(http_client):
    async with GeminiUpstream(models={"gemini-2.5-pro"}) as up:
        with pytest.raises(ProviderError) as info:
            await provider(up, http_client).complete(ask(), "gemini-9-ultra")
    assert info.value.kind is ErrorKind.not_found


async def test_wrong_api_key_is_auth(up, http_client):
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client, key="AIzaSyD3-wrong-key-9876543210").complete(ask(), MODEL)
    assert info.value.kind is ErrorKind.auth and info.value.status == 400


async def test_api_key_travels_in_a_header_never_the_url(up, http_client):
    up.answer("ok")
    await provider(up, http_client).complete(ask(), MODEL)
    rec = up.requests[0]
    assert rec.headers["x-goog-api-key"] == KEY
    assert KEY not in up.urls[0] and "key=" not in up.urls[0]


async def test_api_key_echoed_by_the_upstream_never_reaches_the_error(up, http_client):
    up.error(400, f"API key {KEY} not valid. Please pass a valid API key.")
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client).complete(ask(), MODEL)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert "[redacted]" in info.value.message


async def test_malformed_json_body_is_malformed(up, http_client):
    up.raw(
        200,
        b'{"candidates": [{"content": {"parts": [{"text": "Par',
        content_type="application/json",
    )
    with pytest.raises(ProviderError) as info:
        await provider(up, http_client).complete(ask(), MODEL)
    assert info.value.kind is ErrorKind.malformed


async def test_malformed_stream_event_is_malformed(up, http_client):
    up.push(Reply(events=[b'data: {"candidates": [{"content": \r\n\r\n']))
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
    up.answer("one two three four five six seven", event_delay_s=2.0)
    started = time.monotonic()
    chunks, err = await drain(provider(up, http_client, read=0.2).stream(ask(), MODEL))
    assert err is not None and err.kind is ErrorKind.timeout
    assert time.monotonic() - started < 1.0


async def test_trickling_stream_is_cut_by_the_total_timeout(up, http_client):
    up.answer(" ".join(["word"] * 60), event_delay_s=0.1)
    started = time.monotonic()
    chunks, err = await drain(provider(up, http_client, read=1.0, total=0.35).stream(ask(), MODEL))
    assert chunks and err is not None and err.kind is ErrorKind.timeout
    assert time.monotonic() - started < 1.0


async def test_refused_connection_is_a_connect_error(http_client):
    async with GeminiUpstream() as up:
        gemini = provider(up, http_client)
    with pytest.raises(ProviderError) as info:
        await gemini.complete(ask(), MODEL)
    assert info.value.kind is ErrorKind.connect


# --------------------------------------------------------------------------- helpers


def _without_finish(reply: Reply) -> Reply:
    """The same stream, minus the finishReason on its last event."""
    last = orjson.loads(reply.events[-1].removeprefix(b"data: "))
    del last["candidates"][0]["finishReason"]
    reply.events[-1] = b"data: " + orjson.dumps(last) + b"\r\n\r\n"
    return reply
