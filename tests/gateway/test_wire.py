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
    ({"model": "chat", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "x", "type": "function"}]}]}, "messages[0].tool_calls[0].function.name"),
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
    ({"model": "chat", "messages": [USER], "stream": True, "stream_options": {
        "include_usage": "yes"}}, "stream_options.include_usage: expected a boolean"),
])
def test_each_mistake_is_named(body: dict, message: str):
    assert refusal(body).message.startswith(message)


def call(**fn) -> dict:
    return {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                 "function": {"name": "f", **fn}}]}


# What OpenAI's API refuses, refused the same way (and nothing stricter).
@pytest.mark.parametrize(("messages", "message"), [
    ([{"role": ["user"], "content": "x"}], "messages[0].role: expected one of"),
    ([{"role": {"user": 1}, "content": "x"}], "messages[0].role: expected one of"),
    ([{"role": "user", "content": "x", "name": 5}], "messages[0].name: expected a string"),
    ([{"role": "user", "content": []}], "messages[0].content: an empty array"),
    ([{"role": "user", "content": [{"type": "video", "video": {}}]}],
     "messages[0].content[0].type: 'video' is not a part a user message can carry"),
    ([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}],
     "messages[0].content[0].type: 'image_url' is not a part a system message can carry"),
    ([{"role": "user", "content": [{"type": "text"}]}],
     "messages[0].content[0].text: expected a string"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
     "messages[0].content[0].image_url.url: expected a string"),
    ([USER, call(arguments={"city": "Paris"})],
     "messages[1].tool_calls[0].function.arguments: expected a string"),
    ([USER, call()], "messages[1].tool_calls[0].function.arguments: expected a string"),
    ([USER, {"role": "assistant", "tool_calls": [{"type": "function", "function": {
        "name": "f", "arguments": "{}"}}]}], "messages[1].tool_calls[0].id: expected a string"),
])
def test_what_openai_refuses_in_a_message_is_refused(messages: list, message: str):
    err = refusal({"model": "chat", "messages": messages})
    assert err.message.startswith(message) and err.param == "messages"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("n", True, "n: expected an integer"),
    ("n", 1.0, "n: expected an integer"),
    ("tools", [{"type": "function", "function": {"name": "get weather"}}],
     "tools[0].function.name: 'get weather' does not match ^[a-zA-Z0-9_-]{1,64}$"),
    ("tools", [{"type": "function", "function": {"name": "f" * 65}}],
     "tools[0].function.name: "),
    ("response_format", {"type": ["json_object"]}, "response_format.type: expected"),
    ("presence_penalty", 3, "presence_penalty: expected a number from -2 to 2"),
    ("seed", "7", "seed: expected an integer"),
    ("logprobs", 1, "logprobs: expected a boolean"),
    ("top_logprobs", 21, "top_logprobs: expected an integer from 0 to 20"),
    ("metadata", {"k": 1}, "metadata: expected an object of strings"),
    ("parallel_tool_calls", "yes", "parallel_tool_calls: expected a boolean"),
    ("response_format", {"type": "json_schema", "json_schema": {"schema": {}}},
     "response_format.json_schema: expected an object with a name"),
])
def test_what_openai_refuses_in_a_parameter_is_refused(field: str, value, message: str):
    err = refusal({"model": "chat", "messages": [USER], field: value})
    assert err.message.startswith(message) and err.param == field


def test_what_openai_accepts_passes():
    parse(n=1, messages=[
        {"role": "system", "content": [{"type": "text", "text": "be brief"}], "name": "ops"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-1"}}]},
        call(arguments='{"city": "Paris"}'),
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "9C"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}],
        tools=[{"type": "function", "function": {"name": "get_weather-2"}}],
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": {}}},
        unknown_vendor_field={"kept": "ignored"}, seed=7, presence_penalty=-1.5, logprobs=True,
        top_logprobs=3, logit_bias={"50256": -100}, parallel_tool_calls=False, store=False,
        metadata={"team": "checkout"}, frequency_penalty=None)


@pytest.mark.parametrize("model", ["chat\n", "chat\r\nx-evil: 1", "ch\x00at", "chat\x7f",
                                   "chat\x85"])
def test_a_model_name_with_control_characters_is_refused(model: str):
    err = refusal({"model": model.encode().decode("unicode_escape"), "messages": [USER]})
    assert err.param == "model" and "control characters" in err.message


def test_json_nested_past_the_limit_is_refused_naming_the_limit():
    deep = b'{"type": "object", "properties": {"x": ' * 150 + b"{}" + b"}}" * 150  # 300 deep
    err = refusal(b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "tools": '
                  b'[{"type": "function", "function": {"name": "f", "parameters": ' + deep
                  + b"}}]}")
    assert err.code == "json_too_deep" and "deeper than 128 levels" in err.message
    nested: list = ["x"]
    for _ in range(20):
        nested = [nested]
    with pytest.raises(ApiError, match="deeper than 8 levels"):
        parse_chat(orjson.dumps({"model": "chat", "messages": [USER], "metadata": nested}), 8)


def test_json_within_the_limit_is_accepted_however_many_brackets_it_has():
    wide = {"type": "object", "properties": {f"p{i}": {"type": "array", "items": {}}
                                             for i in range(200)}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": wide}}]
    assert parse(tools=tools).request.tools == tools


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
