"""The cache's parts on their own: the memory backend's LRU, limits and TTL on the virtual
clock, the request keys, the embedders, and streams put back together."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys

import orjson
import pytest

from axtui.cache import keys
from axtui.cache.answers import StreamCollector, decode, encode, replay
from axtui.cache.backend import MemoryBackend
from axtui.cache.embed import NgramEmbedder, make_embedder
from axtui.cache.semantic import SemanticIndex
from axtui.clock import VirtualClock
from axtui.providers.base import ChatChunk, ChatRequest, ChatResponse
from axtui.records import Usage

run = asyncio.run


def test_memory_backend_returns_what_was_put_until_its_ttl():
    clock = VirtualClock()
    b = MemoryBackend(clock, max_entries=10, max_bytes=1000)
    run(b.put("k", b"answer", ttl_s=30))
    clock.advance(29.9)
    assert run(b.get("k")) == b"answer"
    clock.advance(0.1)
    assert run(b.get("k")) is None
    assert (b.stats().entries, b.stats().expirations) == (0, 1)


def test_memory_backend_evicts_the_least_recently_used_at_the_byte_limit():
    b = MemoryBackend(VirtualClock(), max_entries=10, max_bytes=10)
    run(b.put("a", b"12345", 60))
    run(b.put("b", b"12345", 60))
    run(b.get("a"))  # b is now the least recently used
    run(b.put("c", b"123", 60))
    assert run(b.get("b")) is None and run(b.get("a")) == b"12345"
    assert b.stats().bytes == 8 and b.stats().evictions == 1


def test_memory_backend_refuses_a_value_larger_than_the_whole_cache():
    b = MemoryBackend(VirtualClock(), max_entries=10, max_bytes=10)
    run(b.put("a", b"1234", 60))
    run(b.put("big", b"x" * 11, 60))
    assert run(b.get("big")) is None and run(b.get("a")) == b"1234"


def test_memory_backend_clear_says_how_many_left():
    b = MemoryBackend(VirtualClock(), max_entries=10, max_bytes=100)
    for k in "abc":
        run(b.put(k, b"v", 60))
    assert run(b.clear()) == 3 and b.stats().entries == 0 and b.stats().bytes == 0


def _req(**kw) -> ChatRequest:
    kw.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest(model="chat", **kw)


def test_the_key_ignores_how_and_by_whom_a_request_is_sent():
    a = keys.exact_key("r", "", _req(stream=True, user="u1", tags=["x"]))
    b = keys.exact_key("r", "", _req())
    assert a == b


def test_the_key_holds_route_scope_tools_format_and_sampling():
    base = keys.exact_key("r", "", _req())
    tool = [{"type": "function", "function": {"name": "f"}}]
    for other in (keys.exact_key("r2", "", _req()), keys.exact_key("r", "key", _req()),
                  keys.exact_key("r", "", _req(tools=tool)),
                  keys.exact_key("r", "", _req(response_format={"type": "json_object"})),
                  keys.exact_key("r", "", _req(temperature=0.0)),
                  keys.exact_key("r", "", _req(stop=["\n"]))):
        assert other != base


def test_a_single_text_part_keys_like_the_plain_string():
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert keys.exact_key("r", "", _req(messages=parts)) == keys.exact_key("r", "", _req())


def test_the_semantic_partition_leaves_out_only_the_last_user_turn():
    def part(system: str, last: str) -> str:
        req = _req(messages=[{"role": "system", "content": system},
                             {"role": "user", "content": last}])
        return keys.semantic_partition("r", "", req, 1)

    assert part("be brief", "one question") == part("be brief", "another one")
    assert part("be brief", "one question") != part("be verbose", "one question")


def test_only_a_text_user_turn_is_embedded():
    image = [{"type": "image_url", "image_url": {"url": "data:,"}}]
    assert keys.last_user_text(_req()) == (0, "hi")
    assert keys.last_user_text(_req(messages=[{"role": "user", "content": image}])) is None
    assert keys.last_user_text(_req(messages=[
        {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])) is None


def test_ngram_similarity_is_high_for_a_rewording_and_lower_for_another_question():
    e = NgramEmbedder()
    stored = e.embed("How do I reset my password?")
    e.learn(stored)
    assert e.similarity(e.embed("how do I reset my password"), stored) > 0.99
    assert e.similarity(e.embed("How can I reset my password?"), stored) > 0.75
    assert e.similarity(e.embed("How do I delete my account?"), stored) < 0.6


def test_ngram_vectors_are_the_same_in_every_process():
    # crc32 buckets, not Python's salted hash(): a vector means the same in any process
    code = ("from axtui.cache.embed import NgramEmbedder; "
            "print(sorted(NgramEmbedder().embed('Où est Paris?').buckets))")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env | {"PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(outs) == 1 and outs.pop().strip() == str(sorted(
        NgramEmbedder().embed("Où est Paris?").buckets))


@pytest.mark.skipif(importlib.util.find_spec("wordllama") is None,
                    reason="wordllama is not installed (pip install 'axtui[semantic]')")
def test_wordllama_loads_offline_and_ranks_a_rewording_above_another_question():
    e = make_embedder("wordllama")
    stored = e.embed("What is the capital of France?")
    assert e.similarity(e.embed("what's the capital of france"), stored) > e.similarity(
        e.embed("What is the capital of Germany?"), stored)
    assert e.similarity(stored, stored) == pytest.approx(1.0, abs=1e-5)


def test_a_streamed_answer_is_put_back_together():
    c = StreamCollector()
    c.add(ChatChunk(content="Hel"))
    c.add(ChatChunk(content="lo", tool_calls=[
        {"index": 0, "id": "c1", "type": "function",
         "function": {"name": "f", "arguments": "{\"a\""}}]))
    c.add(ChatChunk(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}]))
    c.add(ChatChunk(finish_reason="tool_calls"))
    resp = c.response(Usage(prompt_tokens=3, completion_tokens=4))
    assert resp.content == "Hello" and resp.finish_reason == "tool_calls"
    assert resp.tool_calls == [{"id": "c1", "type": "function",
                                "function": {"name": "f", "arguments": "{\"a\": 1}"}}]


def test_an_answer_survives_bytes_and_replays_as_the_same_stream():
    resp = ChatResponse(content="x" * 150, tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        finish_reason="tool_calls", usage=Usage(prompt_tokens=5, completion_tokens=7),
        model="m")
    back = decode(encode(resp))
    assert (back.content, back.tool_calls, back.finish_reason, back.usage) == (
        resp.content, resp.tool_calls, resp.finish_reason, resp.usage)
    c = StreamCollector()
    for chunk in replay(back):
        c.add(chunk)
    again = c.response(back.usage)
    assert (again.content, again.tool_calls, again.finish_reason) == (
        resp.content, resp.tool_calls, resp.finish_reason)


def test_the_stop_sequence_that_ended_an_answer_survives_bytes_and_replay():
    resp = ChatResponse(content="one, two", finish_reason="stop", stop_sequence="three",
                        usage=Usage(prompt_tokens=5, completion_tokens=3))
    back = decode(encode(resp))
    assert back.stop_sequence == "three"
    c = StreamCollector()
    for chunk in replay(back):
        c.add(chunk)
    assert c.response(back.usage).stop_sequence == "three"


def test_an_entry_cached_before_stop_sequences_were_kept_decodes_without_one():
    old = orjson.dumps({"content": "hi", "tool_calls": [], "finish_reason": "stop",
                        "model": "m", "usage": [1, 2, 0]})
    assert decode(old).stop_sequence is None


def test_every_usage_count_survives_bytes_prompt_cache_writes_included():
    usage = Usage(prompt_tokens=700, completion_tokens=10, cached_prompt_tokens=100,
                  cache_write_tokens=500)
    back = decode(encode(ChatResponse(content="hi", usage=usage)))
    assert back.usage == usage


def test_an_entry_cached_before_writes_were_kept_decodes_with_no_writes():
    old = orjson.dumps({"content": "hi", "tool_calls": [], "finish_reason": "stop",
                        "model": "m", "usage": [7, 2, 3]})
    assert decode(old).usage == Usage(prompt_tokens=7, completion_tokens=2,
                                      cached_prompt_tokens=3, cache_write_tokens=0)


def _questions(n: int) -> list[str]:
    cities = ["Paris", "Lyon", "Nantes", "Lille", "Nice", "Brest", "Dijon", "Metz"]
    return [f"What is the status of order {i * 7919 % 100000} shipped to {cities[i % 8]}?"
            for i in range(n)]


def test_a_large_partition_compares_only_turns_sharing_rare_ngrams_and_still_finds_the_match():
    clock = VirtualClock()
    index = SemanticIndex(NgramEmbedder(), clock, threshold=0.85, max_entries=10_000)
    questions = _questions(2000)
    for i, q in enumerate(questions):
        index.add("p", f"k{i}", index.embedder.embed(q), ttl_s=60)
    query = questions[1234].removeprefix("What is the ").lower()  # "status of order ..."
    found = index.find("p", index.embedder.embed(query))
    assert found is not None and found[0] == "k1234" and found[1] >= 0.85
    assert index.compared <= 12  # of 2000 in the partition


def test_the_index_keeps_at_most_max_entries_and_forgets_what_left():
    index = SemanticIndex(NgramEmbedder(), VirtualClock(), threshold=0.9, max_entries=3)
    for i, q in enumerate(_questions(5)):
        index.add("p", f"k{i}", index.embedder.embed(q), ttl_s=60)
    assert len(index) == 3 and index.embedder.docs == 3
    assert index.find("p", index.embedder.embed(_questions(5)[0])) is None  # evicted
    index.clear()
    assert len(index) == 0 and index.embedder.docs == 0 and not any(index.embedder.df)
