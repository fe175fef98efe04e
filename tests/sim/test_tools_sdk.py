"""`axtui sim serve` honours tools and tool_choice as the in-process simulated provider does:
a tool call whose arguments validate against the tool's JSON Schema, plain and streamed, seen
through the official openai and anthropic SDKs on loopback, and on every protocol (Gemini and
Cohere too) through axtui's own adapters."""

from __future__ import annotations

import json

import anthropic
import jsonschema
import openai
import pytest
from pydantic import BaseModel

from axtui.providers.base import ChatRequest
from tests.providers.test_sim_tools import BOOK
from tests.sim.conftest import SimFactory, scenario
from tests.sim.test_adapters import PROTOCOLS, _adapter, _serve

ASK = [{"role": "user", "content": "Book me a table."}]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": WEATHER}},
                {"type": "function", "function": {"name": "book", "parameters": BOOK}}]
ANTHROPIC_TOOLS = [{"name": "weather", "input_schema": WEATHER},
                   {"name": "book", "input_schema": BOOK}]
BOOK_CHOICE = {"type": "function", "function": {"name": "book"}}


def _openai(sim: SimFactory) -> openai.OpenAI:
    s = sim(scenario({"name": "alpha"}))
    return openai.OpenAI(base_url=s.base_url("alpha"), api_key="sk-sim", max_retries=0)


def _anthropic(sim: SimFactory) -> anthropic.Anthropic:
    s = sim(scenario({"name": "claude", "protocol": "anthropic"}))
    return anthropic.Anthropic(base_url=s.base_url("claude"), api_key="sk-ant-sim",
                               max_retries=0)


def test_openai_a_named_tool_choice_gets_a_call_with_arguments_valid_for_its_schema(
        sim: SimFactory) -> None:
    done = _openai(sim).chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=OPENAI_TOOLS, tool_choice=BOOK_CHOICE)
    [call] = done.choices[0].message.tool_calls
    assert call.function.name == "book" and call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments), BOOK)
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.choices[0].message.content is None
    assert done.usage.completion_tokens > 0


def test_openai_a_streamed_tool_call_reassembles_to_valid_arguments(sim: SimFactory) -> None:
    chunks = list(_openai(sim).chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=OPENAI_TOOLS, tool_choice=BOOK_CHOICE,
        stream=True, stream_options={"include_usage": True}))
    parts = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert parts[0].function.name == "book" and parts[0].id.startswith("call_")
    assert len(parts) > 2  # the arguments arrive in pieces
    arguments = "".join(p.function.arguments or "" for p in parts)
    jsonschema.validate(json.loads(arguments), BOOK)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("choice", ["required", "auto", None])
def test_openai_a_users_turn_with_tools_gets_a_call_to_the_first_tool(
        sim: SimFactory, choice) -> None:
    extra = {} if choice is None else {"tool_choice": choice}
    done = _openai(sim).chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=OPENAI_TOOLS, **extra)
    [call] = done.choices[0].message.tool_calls
    assert call.function.name == "weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)


def test_openai_after_a_tool_result_auto_answers_in_words_so_the_loop_ends(
        sim: SimFactory) -> None:
    turns = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    done = _openai(sim).chat.completions.create(
        model="gpt-4o-mini", messages=turns, tools=OPENAI_TOOLS)
    assert done.choices[0].message.tool_calls is None
    assert done.choices[0].message.content and done.choices[0].finish_reason == "stop"


def test_openai_tool_choice_none_answers_in_words(sim: SimFactory) -> None:
    done = _openai(sim).chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=OPENAI_TOOLS, tool_choice="none")
    assert done.choices[0].message.tool_calls is None and done.choices[0].message.content


def test_openai_tool_choice_without_tools_is_refused_as_openai_does(sim: SimFactory) -> None:
    with pytest.raises(openai.BadRequestError, match="tool_choice"):
        _openai(sim).chat.completions.create(model="gpt-4o-mini", messages=ASK,
                                             tool_choice="required")


class Table(BaseModel):
    restaurant: str
    party: int


def test_openai_parse_with_a_json_schema_gets_json_that_validates(sim: SimFactory) -> None:
    done = _openai(sim).chat.completions.parse(model="gpt-4o-mini", messages=ASK,
                                               response_format=Table)
    assert isinstance(done.choices[0].message.parsed, Table)


def test_anthropic_a_named_tool_gets_a_tool_use_block_valid_for_its_schema(
        sim: SimFactory) -> None:
    msg = _anthropic(sim).messages.create(
        model="claude-3-5-haiku-latest", max_tokens=200, messages=ASK, tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "tool", "name": "book"})
    [block] = msg.content
    assert block.type == "tool_use" and block.name == "book" and block.id.startswith("toolu_")
    jsonschema.validate(block.input, BOOK)
    assert msg.stop_reason == "tool_use"


def test_anthropic_a_streamed_tool_use_accumulates_to_valid_input(sim: SimFactory) -> None:
    with _anthropic(sim).messages.stream(
            model="claude-3-5-haiku-latest", max_tokens=200, messages=ASK,
            tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"}) as stream:
        msg = stream.get_final_message()
    [block] = msg.content
    assert block.type == "tool_use" and block.name == "weather"
    jsonschema.validate(block.input, WEATHER)
    assert msg.stop_reason == "tool_use"


def test_anthropic_after_tool_results_auto_answers_in_words(sim: SimFactory) -> None:
    turns = [*ASK, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}]
    msg = _anthropic(sim).messages.create(
        model="claude-3-5-haiku-latest", max_tokens=200, messages=turns, tools=ANTHROPIC_TOOLS)
    assert [b.type for b in msg.content] == ["text"] and msg.stop_reason == "end_turn"


def test_anthropic_tool_choice_none_answers_in_words(sim: SimFactory) -> None:
    msg = _anthropic(sim).messages.create(
        model="claude-3-5-haiku-latest", max_tokens=200, messages=ASK, tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "none"})
    assert [b.type for b in msg.content] == ["text"]


# --- every protocol the sim speaks, as axtui's own adapters (the gateway's clients) see it

ADAPTERS = sorted(PROTOCOLS)


def _tools_request(choice, stream: bool = False) -> ChatRequest:
    return ChatRequest(list(ASK), tools=OPENAI_TOOLS, tool_choice=choice, stream=stream)


@pytest.mark.parametrize("protocol", ADAPTERS)
async def test_each_protocol_answers_a_named_tool_choice_with_a_valid_call(
        sim: SimFactory, protocol: str, http_client) -> None:
    s = _serve(sim, protocol)
    choice = "required" if protocol == "cohere" else BOOK_CHOICE  # Cohere names no function
    resp = await _adapter(s, protocol, http_client).complete(
        _tools_request(choice), PROTOCOLS[protocol][1])
    [call] = resp.tool_calls
    name = "weather" if protocol == "cohere" else "book"
    assert call["function"]["name"] == name and resp.finish_reason == "tool_calls"
    jsonschema.validate(json.loads(call["function"]["arguments"]),
                        WEATHER if name == "weather" else BOOK)


@pytest.mark.parametrize("protocol", ADAPTERS)
async def test_each_protocol_streams_a_tool_call_that_reassembles_valid(
        sim: SimFactory, protocol: str, http_client) -> None:
    s = _serve(sim, protocol)
    chunks = [c async for c in _adapter(s, protocol, http_client).stream(
        _tools_request("required", stream=True), PROTOCOLS[protocol][1])]
    parts = [tc for c in chunks for tc in c.tool_calls or []]
    assert parts[0]["function"]["name"] == "weather"
    arguments = "".join(p["function"].get("arguments") or "" for p in parts)
    jsonschema.validate(json.loads(arguments), WEATHER)
    assert chunks[-1].finish_reason == "tool_calls"


@pytest.mark.parametrize("protocol", ADAPTERS)
async def test_each_protocol_answers_in_words_when_tool_choice_is_none(
        sim: SimFactory, protocol: str, http_client) -> None:
    s = _serve(sim, protocol)
    resp = await _adapter(s, protocol, http_client).complete(
        _tools_request("none"), PROTOCOLS[protocol][1])
    assert resp.tool_calls == [] and resp.content
