"""The simulated provider honours tools and schemas, so tool flows run on the demo: a tool call
whose arguments validate against the tool's JSON Schema, when `tool_choice` asks for one."""

from __future__ import annotations

import json

import jsonschema
import pytest

from axtui.clock import VirtualClock
from axtui.config import SimProfile
from axtui.providers.base import ChatRequest
from axtui.providers.sim import SimProvider
from axtui.providers.sim_tools import example

HELLO = [{"role": "user", "content": "Book me a table."}]
BOOK = {"type": "object", "properties": {
    "restaurant": {"type": "string", "minLength": 12},
    "party": {"type": "integer", "minimum": 2, "maximum": 12},
    "time": {"type": "string", "enum": ["19:00", "20:00"]},
    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "where": {"$ref": "#/$defs/place"},
    "vip": {"type": "boolean"}, "budget": {"type": "number", "exclusiveMinimum": 10},
}, "required": ["restaurant", "party", "time", "tags", "notes", "where", "vip", "budget"],
    "additionalProperties": False,
    "$defs": {"place": {"type": "object", "properties": {"city": {"const": "Oslo"}},
                        "required": ["city"], "additionalProperties": False}}}
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "book", "parameters": BOOK}}]


def sim(clock: VirtualClock) -> SimProvider:
    return SimProvider("s", profile=SimProfile(latency_p50_ms=100, latency_p95_ms=200),
                       clock=clock)


def complete(request: ChatRequest):
    clock = VirtualClock()
    return clock.run(sim(clock).complete(request, "m"))


def test_schema_example_is_valid_against_its_schema():
    jsonschema.validate(example(BOOK, BOOK), BOOK)


def test_a_named_tool_choice_gets_a_call_to_that_tool_with_valid_arguments():
    resp = complete(ChatRequest(HELLO, tools=TOOLS,
                                tool_choice={"type": "function", "function": {"name": "book"}}))
    [call] = resp.tool_calls
    assert call["function"]["name"] == "book" and resp.finish_reason == "tool_calls"
    jsonschema.validate(json.loads(call["function"]["arguments"]), BOOK)
    assert resp.content is None and resp.usage.completion_tokens > 0


@pytest.mark.parametrize("choice", ["required", "auto", None])
def test_a_users_turn_with_tools_gets_a_tool_call(choice):
    resp = complete(ChatRequest(HELLO, tools=TOOLS, tool_choice=choice))
    assert [c["function"]["name"] for c in resp.tool_calls] == ["weather"]


def test_after_a_tool_result_auto_answers_in_words_but_required_still_calls():
    history = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]
    answer = complete(ChatRequest(history, tools=TOOLS, tool_choice="auto"))
    assert answer.tool_calls == [] and answer.content and answer.finish_reason == "stop"
    again = complete(ChatRequest(history, tools=TOOLS, tool_choice="required"))
    assert again.tool_calls and again.finish_reason == "tool_calls"


def test_tool_choice_none_gets_words():
    resp = complete(ChatRequest(HELLO, tools=TOOLS, tool_choice="none"))
    assert resp.tool_calls == [] and resp.content


def test_a_streamed_tool_call_arrives_as_openai_deltas():
    clock = VirtualClock()

    async def main():
        return [c async for c in sim(clock).stream(
            ChatRequest(HELLO, tools=TOOLS, tool_choice={
                "type": "function", "function": {"name": "book"}}), "m")]

    chunks = clock.run(main())
    head = chunks[0].tool_calls[0]
    assert (head["index"], head["function"]["name"]) == (0, "book") and head["id"]
    arguments = "".join(c.tool_calls[0]["function"]["arguments"] for c in chunks if c.tool_calls)
    jsonschema.validate(json.loads(arguments), BOOK)
    assert chunks[-1].finish_reason == "tool_calls" and chunks[-1].usage is not None


def test_a_json_schema_format_gets_json_that_follows_it():
    fmt = {"type": "json_schema", "json_schema": {"name": "b", "schema": BOOK}}
    resp = complete(ChatRequest(HELLO, response_format=fmt))
    jsonschema.validate(json.loads(resp.content), BOOK)
