"""The Anthropic face's own cost (issue 12): translating a Messages request into the
engine's request and its answer back, beside the OpenAI face's parse and answer of the
same conversation. Everything else (auth, engine, upstream, record) is shared by both.

    python bench/bench_messages.py [--seconds 1]

Targets, each printed beside its figure with PASS/MISS:
  a plain request (parse + answer body): <= 25 us more than the chat face's;
  a stream's frames: <= 4 us a chunk (chat's frame is printed beside it).
Exit code 0 when every target passes, 1 when one misses.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.gateway.anthropic_answer import MessageEvents, message_body  # noqa: E402
from axtui.gateway.anthropic_request import parse_messages  # noqa: E402
from axtui.gateway.wire import ChunkFrames, completion_body, parse_chat  # noqa: E402
from axtui.providers.base import ChatChunk, ChatResponse  # noqa: E402
from axtui.records import Usage  # noqa: E402

ADDED_PLAIN_US = 25.0
PER_CHUNK_US = 4.0

TOOL = {"name": "get_weather", "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
# a multi-turn conversation with a tool round trip, in each face's shape
ANTHROPIC = orjson.dumps({
    "model": "chat", "max_tokens": 512, "system": "You are a helpful assistant.",
    "tools": [TOOL], "messages": [
        {"role": "user", "content": "What is the weather in Paris? " * 8},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 21 C"},
            {"type": "text", "text": "And tomorrow?"}]},
    ]})
OPENAI = orjson.dumps({
    "model": "chat", "max_tokens": 512, "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": TOOL["input_schema"]}}], "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the weather in Paris? " * 8},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [{
            "id": "toolu_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny, 21 C"},
        {"role": "user", "content": "And tomorrow?"},
    ]})
ANSWER = ChatResponse(content="Tomorrow looks sunny too, around 23 C. " * 4,
                      usage=Usage(prompt_tokens=180, completion_tokens=40))
CHUNKS = [ChatChunk(content=" word") for _ in range(200)]


def per_call_us(fn: Callable[[], object], seconds: float) -> float:
    """The best of five runs of about `seconds`/5 each, in microseconds a call."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.05:
        fn()
        n += 1
    batch = max(1, int(n * seconds / 5 / 0.05))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - t0) / batch)
    return best * 1e6


def anthropic_plain() -> None:
    call = parse_messages(ANTHROPIC)
    message_body(ANSWER, "msg_1", call.request.model)


def openai_plain() -> None:
    call = parse_chat(OPENAI)
    completion_body(ANSWER, "chatcmpl-1", 0, call.request.model)


def anthropic_stream() -> None:
    ev = MessageEvents("msg_1", "chat")
    ev.start(100)
    for c in CHUNKS:
        ev.chunk(c)
    ev.end(ANSWER.usage)


def openai_stream() -> None:
    frames = ChunkFrames("chatcmpl-1", 0, "chat", False)
    for c in CHUNKS:
        frames.chunk(c)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = ap.parse_args()
    a_plain, o_plain = per_call_us(anthropic_plain, args.seconds), per_call_us(
        openai_plain, args.seconds)
    a_chunk = per_call_us(anthropic_stream, args.seconds) / len(CHUNKS)
    o_chunk = per_call_us(openai_stream, args.seconds) / len(CHUNKS)
    added = a_plain - o_plain
    rows = [
        ("plain: added over chat's parse + body", added, ADDED_PLAIN_US,
         f"(anthropic {a_plain:.1f} us, chat {o_plain:.1f} us)"),
        ("stream: per chunk", a_chunk, PER_CHUNK_US, f"(chat's frame {o_chunk:.2f} us)"),
    ]
    ok = True
    for name, got, target, note in rows:
        verdict = "PASS" if got <= target else "MISS"
        ok &= verdict == "PASS"
        print(f"{name:40} {got:7.2f} us  target <= {target:g} us  {verdict}  {note}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
