"""The request body validated by hand: what passes through, and the 400 each mistake gets."""

from __future__ import annotations

import orjson
import pytest

from axtui.gateway.errors import ApiError
from axtui.gateway.wire import ChunkFrames, completion_body, parse_chat
from axtui.providers.base import ChatChunk, ChatResponse
from axtui.records import Usage

USER = {"role": "user", "content": "hi"}


def parse(**body):
    return parse_chat(orjson.dumps({"model": "chat", "messages": [USER], **body}))


def refusal(raw: bytes | dict) -> ApiError:
    with pytest.raises(ApiError) as e:
        parse_chat(raw if isinstance(raw, bytes) else orjson.dumps(raw))
    assert e.value.status == 400
    return e.value


def test_a_full_request_maps_onto_chat_request():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    call = parse(max_tokens=10, temperature=0.5, top_p=1, stop="END", tools=tools,
                 tool_choice="required", response_format={"type": "json_object"}, user="u1",
                 stream=True, stream_options={"include_usage": True}, seed=7,
                 presence_penalty=0.1)
    r = call.request
    assert (r.model, r.max_tokens, r.temperature, r.top_p) == ("chat", 10, 0.5, 1.0)
    assert r.stop == ["END"] and r.tools == tools and r.tool_choice == "required"
    assert r.response_format == {"type": "json_object"} and r.user == "u1"
    assert r.stream and call.include_usage


def test_max_completion_tokens_is_the_newer_name_for_max_tokens():
    assert parse(max_completion_tokens=33).request.max_tokens == 33


def test_tool_conversation_is_accepted():
    call = parse(messages=[
        {"role": "developer", "content": "be terse"}, USER,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "user", "content": [{"type": "text", "text": "and?"}]}])
    assert len(call.request.messages) == 5


@pytest.mark.parametrize(("body", "message"), [
    ({"messages": [USER]}, "Missing required parameter: 'model'."),
    ({"model": "", "messages": [USER]}, "model: expected a non-empty string"),
    ({"model": "chat"}, "Missing required parameter: 'messages'."),
    ({"model": "chat", "messages": []}, "messages: expected a non-empty array"),
    ({"model": "chat", "messages": ["hi"]}, "messages[0]: expected an object"),
    ({"model": "chat", "messages": [USER, {"role": "bot", "content": "x"}]},
     "messages[1].role: expected one of system, developer, user, assistant, tool"),
    ({"model": "chat", "messages": [{"role": "user"}]}, "messages[0].content: expected"),
    ({"model": "chat", "messages": [{"role": "user", "content": 5}]},
     "messages[0].content: expected a string or an array of parts"),
    ({"model": "chat", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
     "messages[0].content[0]: expected an object with a type"),
    ({"model": "chat", "messages": [{"role": "assistant"}]},
     "messages[0].content: an assistant message needs content or tool_calls"),
    ({"model": "chat", "messages": [{"role": "assistant", "tool_calls": [{"id": "x"}]}]},
     "messages[0].tool_calls[0].function.name"),
    ({"model": "chat", "messages": [{"role": "tool", "content": "x"}]},
     "messages[0].tool_call_id"),
    ({"model": "chat", "messages": [USER], "max_tokens": True}, "max_tokens: expected"),
    ({"model": "chat", "messages": [USER], "max_completion_tokens": -1},
     "max_completion_tokens: expected"),
    ({"model": "chat", "messages": [USER], "top_p": 1.5}, "top_p: expected a number"),
    ({"model": "chat", "messages": [USER], "stop": [1]}, "stop: expected"),
    ({"model": "chat", "messages": [USER], "tools": {}}, "tools: expected an array"),
    ({"model": "chat", "messages": [USER], "tools": [{"type": "function", "function": {}}]},
     "tools[0].function.name"),
    ({"model": "chat", "messages": [USER], "tool_choice": "always"}, "tool_choice: expected"),
    ({"model": "chat", "messages": [USER], "response_format": {"type": "yaml"}},
     "response_format.type: expected"),
    ({"model": "chat", "messages": [USER], "response_format": {"type": "json_schema"}},
     "response_format.json_schema"),
    ({"model": "chat", "messages": [USER], "stream_options": {"include_usage": True}},
     "The 'stream_options' parameter is only allowed when 'stream' is enabled."),
    ({"model": "chat", "messages": [USER], "user": 7}, "user: expected a string"),
])
def test_each_mistake_is_named(body: dict, message: str):
    assert refusal(body).message.startswith(message)


def test_bytes_that_are_not_json_or_not_utf8():
    assert refusal(b"{nope").message.startswith("the request body is not valid JSON")
    assert refusal(b'{"model": "\xc3\x28"}').message == \
        "the request body is not valid UTF-8 (byte 11)"
    assert refusal(b"   ").message.startswith("the request body is empty")


def test_a_completion_body_has_openais_shape():
    resp = ChatResponse(content=None, finish_reason="tool_calls",
                        tool_calls=[{"id": "c", "type": "function",
                                     "function": {"name": "f", "arguments": "{}"}}],
                        usage=Usage(prompt_tokens=5, completion_tokens=2, cached_prompt_tokens=1))
    body = orjson.loads(completion_body(resp, "chatcmpl-x", 1700000000, "chat"))
    assert body["object"] == "chat.completion" and body["model"] == "chat"
    assert body["choices"][0]["message"]["tool_calls"][0]["id"] == "c"
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
                             "prompt_tokens_details": {"cached_tokens": 1}}


def test_stream_frames_carry_role_once_and_usage_null_until_the_last():
    frames = ChunkFrames("chatcmpl-x", 1, "chat", include_usage=True)
    first = orjson.loads(frames.chunk(ChatChunk(content="He"))[6:])
    second = orjson.loads(frames.chunk(ChatChunk(content="llo", finish_reason="stop"))[6:])
    last = orjson.loads(frames.usage(Usage(prompt_tokens=1, completion_tokens=2))[6:])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "He"}
    assert first["usage"] is None and first["object"] == "chat.completion.chunk"
    assert second["choices"][0] == {"index": 0, "delta": {"content": "llo"}, "logprobs": None,
                                    "finish_reason": "stop"}
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 3
    plain = ChunkFrames("chatcmpl-x", 1, "chat", include_usage=False)
    assert "usage" not in orjson.loads(plain.chunk(ChatChunk(content="x"))[6:])
