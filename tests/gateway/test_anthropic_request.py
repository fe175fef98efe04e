"""Anthropic Messages requests translated into the engine's request, without a server."""

from __future__ import annotations

import orjson
import pytest

from axtui.gateway.anthropic_request import parse_count, parse_messages
from axtui.gateway.errors import ApiError


def parse(**body):
    return parse_messages(orjson.dumps({"model": "chat", "max_tokens": 10, **body}))


def test_thinking_blocks_are_left_out_and_named_as_ignored():
    call = parse(thinking={"type": "enabled", "budget_tokens": 2048}, messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Hello."}]},
        {"role": "user", "content": "again"}])
    assert call.request.messages[1] == {"role": "assistant", "content": "Hello."}
    assert call.ignored == ["thinking blocks", "thinking"]


def test_a_trailing_assistant_turn_is_passed_on_as_a_prefill():
    call = parse(messages=[{"role": "user", "content": "Name a colour."},
                           {"role": "assistant", "content": "The colour is"}])
    assert call.request.messages[-1] == {"role": "assistant", "content": "The colour is"}


def test_several_tool_results_become_tool_messages_in_their_order():
    call = parse(messages=[{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "a", "content": "1"},
        {"type": "tool_result", "tool_use_id": "b", "content": [{"type": "text", "text": "2"}]},
    ]}])
    assert call.request.messages == [
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"}]


def test_an_image_inside_a_tool_result_is_refused_naming_where():
    with pytest.raises(ApiError) as e:
        parse(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a",
            "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}])
    assert e.value.message.startswith("messages.0.content.0.content.0.type: 'image'")


def test_count_tokens_needs_no_max_tokens():
    req = parse_count(orjson.dumps({"model": "chat", "messages": [
        {"role": "user", "content": "hi"}]}))
    assert req.messages == [{"role": "user", "content": "hi"}]


def test_disable_parallel_tool_use_asks_for_parallel_tool_calls_false():
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    call = parse(tools=tools, tool_choice={"type": "auto", "disable_parallel_tool_use": True},
                 messages=[{"role": "user", "content": "hi"}])
    assert call.request.params["parallel_tool_calls"] is False
    assert call.ignored == []


def test_disable_parallel_tool_use_that_is_not_a_boolean_is_refused_naming_it():
    with pytest.raises(ApiError) as info:
        parse(tools=[{"name": "f", "input_schema": {"type": "object"}}],
              tool_choice={"type": "auto", "disable_parallel_tool_use": "yes"},
              messages=[{"role": "user", "content": "hi"}])
    assert info.value.status == 400 and "disable_parallel_tool_use" in info.value.message
