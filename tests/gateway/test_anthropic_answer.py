"""The engine's answers in Anthropic's shape, without a server: stop reasons, usage, the
block structure of a stream, and the status each gateway error becomes."""

from __future__ import annotations

import orjson
import pytest

from axtui.gateway.anthropic_answer import (
    MessageEvents,
    error_body,
    error_status,
    message_body,
    stop_reason,
    usage_json,
)
from axtui.gateway.errors import ApiError
from axtui.providers.base import ChatChunk, ChatResponse
from axtui.records import Usage


def events(frames: bytes) -> list[dict]:
    """Each event's data, checked against its `event:` line."""
    out = []
    for frame in frames.decode().split("\n\n"):
        if frame:
            name, data = frame.split("\n")
            payload = orjson.loads(data.removeprefix("data: "))
            assert name == f"event: {payload['type']}"
            out.append(payload)
    return out


@pytest.mark.parametrize(("finish", "tools", "reason"), [
    ("stop", False, "end_turn"), (None, False, "end_turn"), ("length", False, "max_tokens"),
    ("tool_calls", True, "tool_use"), ("stop", True, "tool_use"),
    ("length", True, "max_tokens"), ("content_filter", False, "refusal"),
])
def test_finish_reasons_become_anthropics_stop_reasons(finish, tools, reason):
    assert stop_reason(finish, tools) == reason


def test_usage_counts_cache_reads_apart_from_input_tokens():
    assert usage_json(Usage(prompt_tokens=120, completion_tokens=9, cached_prompt_tokens=100)) \
        == {"input_tokens": 20, "output_tokens": 9, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 100}


def test_a_text_then_tool_then_text_stream_is_three_blocks_each_closed():
    ev = MessageEvents("msg_1", "chat")
    frames = ev.start(12)
    frames += ev.chunk(ChatChunk(content="Checking."))
    frames += ev.chunk(ChatChunk(tool_calls=[{"index": 0, "id": "call_1", "type": "function",
                                              "function": {"name": "f", "arguments": ""}}]))
    frames += ev.chunk(ChatChunk(tool_calls=[{"index": 0, "function": {"arguments": '{"a":'}}]))
    frames += ev.chunk(ChatChunk(tool_calls=[{"index": 0, "function": {"arguments": "1}"}}]))
    frames += ev.chunk(ChatChunk(content="Done.", finish_reason="tool_calls"))
    frames += ev.end(Usage(prompt_tokens=10, completion_tokens=5))
    got = [(e["type"], e.get("index")) for e in events(frames)]
    assert got == [
        ("message_start", None), ("ping", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2), ("content_block_delta", 2), ("content_block_stop", 2),
        ("message_delta", None), ("message_stop", None),
    ]
    parsed = events(frames)
    assert parsed[5]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "f",
                                          "input": {}}
    assert "".join(e["delta"]["partial_json"] for e in parsed[6:8]) == '{"a":1}'
    assert parsed[-2]["delta"]["stop_reason"] == "tool_use"
    assert parsed[-2]["usage"]["input_tokens"] == 10


def test_a_whole_tool_call_in_one_chunk_is_one_block_with_one_delta():
    ev = MessageEvents("msg_1", "chat")
    frames = ev.chunk(ChatChunk(tool_calls=[
        {"index": 0, "id": "c0", "function": {"name": "f", "arguments": '{"x":1}'}},
        {"index": 1, "id": "c1", "function": {"name": "g", "arguments": "{}"}}]))
    got = [(e["type"], e.get("index")) for e in events(frames + ev.end(None))]
    assert got == [("content_block_start", 0), ("content_block_delta", 0),
                   ("content_block_stop", 0), ("content_block_start", 1),
                   ("content_block_delta", 1), ("content_block_stop", 1),
                   ("message_delta", None), ("message_stop", None)]


def test_a_message_body_has_text_and_tool_use_blocks():
    resp = ChatResponse(content="Let me look.", finish_reason="tool_calls", tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"q":"x"}'}}])
    body = orjson.loads(message_body(resp, "msg_9", "chat"))
    assert body["content"] == [{"type": "text", "text": "Let me look."},
                               {"type": "tool_use", "id": "c1", "name": "f", "input": {"q": "x"}}]
    assert body["stop_reason"] == "tool_use" and body["model"] == "chat"


def test_tool_arguments_that_are_not_an_object_are_an_api_error_not_a_broken_block():
    resp = ChatResponse(content=None, tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1, 2"}}])
    with pytest.raises(ApiError) as e:
        message_body(resp, "msg_9", "chat")
    assert error_status(e.value.status) == (500, "api_error")


@pytest.mark.parametrize(("gateway", "anthropic"), [
    (400, (400, "invalid_request_error")), (401, (401, "authentication_error")),
    (403, (403, "permission_error")), (404, (404, "not_found_error")),
    (413, (413, "request_too_large")), (429, (429, "rate_limit_error")),
    (502, (500, "api_error")), (503, (529, "overloaded_error")), (504, (504, "timeout_error")),
    (415, (415, "invalid_request_error")),
])
def test_gateway_statuses_become_anthropics(gateway, anthropic):
    assert error_status(gateway) == anthropic


def test_an_error_body_is_anthropics_with_the_request_id():
    status, body = error_body(ApiError(503, "no upstream answered"), "g1")
    assert status == 529
    assert orjson.loads(body) == {"type": "error", "request_id": "g1", "error": {
        "type": "overloaded_error", "message": "no upstream answered"}}


def test_an_upstream_refusal_is_text_with_stop_reason_refusal():
    body = orjson.loads(message_body(ChatResponse(content=None, refusal="I can't help with that.",
                                                  finish_reason="stop"), "msg_1", "chat"))
    assert body["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert body["stop_reason"] == "refusal"


def test_a_streamed_refusal_is_text_deltas_then_stop_reason_refusal():
    ev = MessageEvents("msg_1", "chat")
    frames = ev.chunk(ChatChunk(refusal="I can't "))
    frames += ev.chunk(ChatChunk(refusal="help.", finish_reason="stop"))
    frames += ev.end(Usage(prompt_tokens=3, completion_tokens=4))
    parsed = events(frames)
    assert "".join(e["delta"]["text"] for e in parsed if e["type"] == "content_block_delta") \
        == "I can't help."
    assert parsed[-2]["delta"]["stop_reason"] == "refusal"


def test_usage_counts_cache_writes_apart_from_input_tokens():
    u = Usage(prompt_tokens=1000, completion_tokens=9, cached_prompt_tokens=300,
              cache_write_tokens=600)
    assert usage_json(u) == {"input_tokens": 100, "output_tokens": 9,
                             "cache_creation_input_tokens": 600,
                             "cache_read_input_tokens": 300}


def test_a_stop_sequence_the_upstream_named_is_stop_reason_stop_sequence():
    resp = ChatResponse(content="one, two", finish_reason="stop", stop_sequence="three")
    body = orjson.loads(message_body(resp, "msg_1", "chat"))
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "three")


def test_a_stop_the_upstream_did_not_explain_is_end_turn_with_no_sequence():
    body = orjson.loads(message_body(ChatResponse(content="Done.", finish_reason="stop"),
                                     "msg_1", "chat"))
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)


def test_a_stop_sequence_beside_a_length_cut_is_not_reported():
    resp = ChatResponse(content="cut", finish_reason="length", stop_sequence="END")
    body = orjson.loads(message_body(resp, "msg_1", "chat"))
    assert (body["stop_reason"], body["stop_sequence"]) == ("max_tokens", None)


def test_a_streamed_stop_sequence_is_in_message_delta():
    ev = MessageEvents("msg_1", "chat")
    frames = ev.chunk(ChatChunk(content="one, two"))
    frames += ev.chunk(ChatChunk(finish_reason="stop", stop_sequence="three"))
    frames += ev.end(Usage(prompt_tokens=30, completion_tokens=4, cache_write_tokens=20))
    delta = events(frames)[-2]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "three"}
    assert delta["usage"]["cache_creation_input_tokens"] == 20
    assert delta["usage"]["input_tokens"] == 10
