"""The response cache inside the engine, on a virtual clock with scripted providers: what a
hit looks like in its record, what is never served, TTL and clears."""

from __future__ import annotations

import copy
import importlib.util

import pytest

from axtui.clock import VirtualClock
from axtui.config import parse_config
from axtui.engine.engine import Engine, RequestContext
from axtui.providers.base import ChatRequest
from axtui.records import Outcome
from axtui.store.control import ControlEntry, ControlSnapshot
from tests.engine.conftest import BASE
from tests.engine.scripted import Ok, ScriptedProvider


def setup(**cache):
    data = copy.deepcopy(BASE)
    data["routes"]["chat"]["cache"] = cache
    cfg = parse_config(data, "test.toml")
    clock = VirtualClock()
    providers = {n: ScriptedProvider(n, clock, Ok(text="Paris.")) for n in cfg.providers}
    engine = Engine(cfg, clock=clock, providers=providers, seed=1)
    records = []
    engine.on_record(records.append)
    return clock, engine, providers, records


def ask(text="What is the capital of France?", key=None, **kw):
    kw.setdefault("temperature", 0.0)
    req = ChatRequest(messages=[{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": text}], model="chat", **kw)
    return req, RequestContext(key_id=key)


def calls(providers) -> int:
    return sum(len(p.calls) for p in providers.values())


def test_the_same_request_again_is_served_from_the_cache_at_zero_cost():
    clock, engine, providers, records = setup()
    first = clock.run(engine.complete(*ask()))
    second = clock.run(engine.complete(*ask()))
    assert calls(providers) == 1
    assert second.response.content == "Paris."
    hit = second.record
    assert (hit.outcome, hit.cache, hit.cache_similarity) == (Outcome.ok, "exact", 1.0)
    assert hit.cost_nano == 0 and hit.attempts == [] and hit.deployment is None
    assert hit.optimal_cost_nano == first.record.cost_nano  # the saving, counted
    assert first.record.cache is None
    assert engine.cache.stats()["chat"]["saved_nano"] == first.record.cost_nano
    assert [r.cache for r in records] == [None, "exact"]


def test_a_different_parameter_is_a_different_question():
    clock, engine, providers, _ = setup()
    clock.run(engine.complete(*ask(max_tokens=100)))
    clock.run(engine.complete(*ask(max_tokens=200)))
    clock.run(engine.complete(*ask(max_tokens=100, top_p=0.5)))
    assert calls(providers) == 3


def test_a_request_sampling_above_the_limit_is_never_served_nor_stored():
    clock, engine, providers, _ = setup()
    for _ in range(2):
        clock.run(engine.complete(*ask(temperature=0.7)))
    req, ctx = ask()
    req.temperature = None  # the vendors' default, 1.0
    clock.run(engine.complete(req, ctx))
    assert calls(providers) == 3
    assert engine.cache.stats()["chat"]["skipped"] == {"temperature": 3}


def test_a_route_may_allow_a_higher_temperature():
    clock, engine, providers, _ = setup(max_temperature=1.0)
    for _ in range(2):
        clock.run(engine.complete(*ask(temperature=0.7)))
    assert calls(providers) == 1


def test_a_tool_result_turn_is_never_served_from_the_cache():
    clock, engine, providers, _ = setup()
    messages = [{"role": "user", "content": "weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "18C"}]
    for _ in range(2):
        clock.run(engine.complete(ChatRequest(messages=copy.deepcopy(messages), model="chat",
                                              temperature=0.0)))
    assert calls(providers) == 2
    assert engine.cache.stats()["chat"]["skipped"] == {"tool_result": 2}


def test_one_callers_answer_is_not_served_to_another_key():
    clock, engine, providers, _ = setup()
    clock.run(engine.complete(*ask(key="key-a")))
    other = clock.run(engine.complete(*ask(key="key-b")))
    same = clock.run(engine.complete(*ask(key="key-a")))
    assert other.record.cache is None and same.record.cache == "exact"
    assert calls(providers) == 2


def test_a_shared_route_serves_every_key():
    clock, engine, providers, _ = setup(shared=True)
    clock.run(engine.complete(*ask(key="key-a")))
    other = clock.run(engine.complete(*ask(key="key-b")))
    assert other.record.cache == "exact"


def test_an_answer_expires_after_its_ttl():
    clock, engine, providers, _ = setup(ttl_s=60)
    clock.run(engine.complete(*ask()))
    clock.advance(59)
    assert clock.run(engine.complete(*ask())).record.cache == "exact"
    clock.advance(2)
    assert clock.run(engine.complete(*ask())).record.cache is None
    assert engine.cache.stats()["chat"]["expirations"] == 1


def test_the_least_recently_used_answer_leaves_first_at_the_entry_limit():
    clock, engine, providers, _ = setup(max_entries=2)
    for q in ("one", "two"):
        clock.run(engine.complete(*ask(q)))
    clock.run(engine.complete(*ask("one")))  # "one" is now the most recently used
    clock.run(engine.complete(*ask("three")))  # evicts "two"
    assert clock.run(engine.complete(*ask("one"))).record.cache == "exact"
    assert clock.run(engine.complete(*ask("two"))).record.cache is None
    assert engine.cache.stats()["chat"]["evictions"] >= 1


def test_a_similar_last_turn_is_a_semantic_hit_with_its_similarity():
    clock, engine, providers, _ = setup(semantic=True, similarity=0.8)
    clock.run(engine.complete(*ask("What is the capital of France?")))
    hit = clock.run(engine.complete(*ask("what's the capital of france")))
    miss = clock.run(engine.complete(*ask("What is the capital of Germany?")))
    assert hit.record.cache == "semantic"
    assert 0.8 <= hit.record.cache_similarity < 1.0
    assert "cache hit (semantic" in hit.record.reason
    assert miss.record.cache is None
    assert calls(providers) == 2


def test_a_semantic_hit_needs_the_same_system_prompt():
    clock, engine, providers, _ = setup(semantic=True, similarity=0.8)
    clock.run(engine.complete(*ask("What is the capital of France?")))
    req, ctx = ask("what's the capital of france")
    req.messages[0]["content"] = "Answer in French."
    assert clock.run(engine.complete(req, ctx)).record.cache is None


def test_a_stream_hit_replays_the_answer_as_chunks():
    clock, engine, providers, records = setup()
    first = clock.run(engine.complete(*ask()))

    async def stream():
        s = engine.stream(*ask())
        await s.start()
        return s, [c async for c in s]

    s, chunks = clock.run(stream())
    assert "".join(c.content or "" for c in chunks) == first.response.content
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage == first.record.usage
    assert s.cache == "exact" and s.record.cache == "exact" and s.record.stream
    assert engine.in_flight == 0 and calls(providers) == 1


def test_a_streamed_answer_is_cached_for_a_plain_request():
    clock, engine, providers, _ = setup()

    async def stream():
        s = engine.stream(*ask())
        await s.start()
        return "".join([c.content or "" async for c in s])

    text = clock.run(stream())
    again = clock.run(engine.complete(*ask()))
    assert again.record.cache == "exact" and again.response.content == text


def test_a_stream_hit_abandoned_before_iterating_is_recorded_cancelled():
    clock, engine, providers, records = setup()
    clock.run(engine.complete(*ask()))

    async def abandon():
        s = engine.stream(*ask())
        await s.start()
        await s.aclose()
        return s

    s = clock.run(abandon())
    assert s.record.outcome is Outcome.cancelled and engine.in_flight == 0
    assert len(records) == 2


def test_a_clear_on_the_control_plane_empties_the_route():
    clock, engine, providers, _ = setup()
    clock.run(engine.complete(*ask()))
    entry = ControlEntry(key="cache_clear:chat", value={"by": "ops"}, version=3,
                         updated_at=0.0, updated_by="ops")

    async def apply():  # on the loop, as the control sync applies it
        engine.apply_control(ControlSnapshot(version=3, entries={entry.key: entry}))

    async def start():  # the first snapshot an engine sees: where things stood before it
        engine.apply_control(ControlSnapshot(version=1, entries={}))

    clock.run(start())
    clock.run(apply())
    assert clock.run(engine.complete(*ask())).record.cache is None
    clock.run(apply())  # the same version again: applied once
    assert clock.run(engine.complete(*ask())).record.cache == "exact"
    assert engine.cache.stats()["chat"]["cleared"] == 1


def test_a_clear_from_before_the_engine_started_clears_nothing():
    clock, engine, providers, _ = setup()
    clock.run(engine.complete(*ask()))
    entry = ControlEntry(key="cache_clear:*", value={"by": "ops"}, version=2,
                         updated_at=0.0, updated_by="ops")
    engine.apply_control(ControlSnapshot(version=2, entries={entry.key: entry}))
    assert clock.run(engine.complete(*ask())).record.cache == "exact"
    assert engine.cache.stats()["chat"]["cleared"] == 0


def test_an_engine_without_a_caching_route_has_no_cache():
    data = copy.deepcopy(BASE)
    cfg = parse_config(data, "test.toml")
    clock = VirtualClock()
    providers = {n: ScriptedProvider(n, clock) for n in cfg.providers}
    assert Engine(cfg, clock=clock, providers=providers).cache is None


@pytest.mark.skipif(importlib.util.find_spec("wordllama") is None,
                    reason="wordllama is not installed (pip install 'axtui[semantic]')")
def test_a_route_embedding_with_wordllama_serves_a_rewording():
    clock, engine, providers, _ = setup(semantic=True, similarity=0.75, embedder="wordllama")
    clock.run(engine.complete(*ask("What is the capital of France?")))
    hit = clock.run(engine.complete(*ask("what's the capital of france")))
    other = clock.run(engine.complete(*ask("How do I bake bread at home?")))
    assert hit.record.cache == "semantic" and hit.record.cache_similarity >= 0.75
    assert other.record.cache is None
