"""The engine builds its records without pydantic's validation (records.trusted): hold every
kind of record it emits to what validation would have produced, field for field."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pydantic import ValidationError

from axtui.clock import VirtualClock
from axtui.config import parse_config
from axtui.engine.engine import Engine, RequestContext, RoutingError
from axtui.providers.base import ChatRequest
from axtui.records import Attempt, ErrorKind, RequestRecord, Usage
from axtui.store.ingest import record_json

from .scripted import Fail
from .test_engine import TOOLS, ask, setup


def assert_as_validated(r: RequestRecord) -> None:
    assert list(r.__dict__) == list(RequestRecord.model_fields)  # record_json relies on it
    # strict: each value already of its declared type (an enum, not its string; an int,
    # not a float), which is what trusted() promises
    RequestRecord.model_validate(r.__dict__, strict=True)
    for a in r.attempts:
        assert list(a.__dict__) == list(Attempt.model_fields)
        Attempt.model_validate(a.__dict__, strict=True)
    again = RequestRecord.model_validate_json(r.model_dump_json())
    assert again == r
    assert record_json(r) == r.model_dump_json()


def test_every_kind_of_record_equals_its_validated_round_trip():
    clock, engine, providers, records = setup()
    ctx = RequestContext(user="alice", key_id="k1", tags=["t"], request_id="req-1")
    clock.run(engine.complete(ask(tools=TOOLS, max_tokens=50), ctx))  # ok, with caps
    providers["a"].then("cheap", Fail(ErrorKind.server, 500))
    clock.run(engine.complete(ask(response_format={"type": "json_object"})))  # failover
    with pytest.raises(RoutingError):
        clock.run(engine.complete(ask(model="nope")))  # rejected

    async def streamed():
        s = engine.stream(ask(stream=True))
        return [c async for c in s]

    clock.run(streamed())

    async def cancelled():
        task = asyncio.ensure_future(engine.complete(ask()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    clock.run(cancelled())
    kinds = [(r.outcome.value, len(r.attempts)) for r in records]
    assert kinds == [("ok", 1), ("ok", 2), ("rejected", 0), ("ok", 1), ("cancelled", 1)]
    for r in records:
        assert_as_validated(r)
    assert records[0].tags == ["t"] and records[0].required_caps == ["tools"]


def test_trusted_records_do_not_share_the_engines_lists():
    clock, engine, providers, records = setup()
    clock.run(engine.complete(ask()))
    r = records[0]
    before = r.model_dump()
    clock.run(engine.complete(ask()))
    assert records[1].attempts is not r.attempts
    assert r.model_dump() == before


def test_records_over_sim_providers_equal_their_validated_round_trip():
    sim = {"latency_p50_ms": 100, "latency_p95_ms": 300, "errors": {"server": 0.2}, "seed": 3}
    cfg = parse_config({
        "providers": {"s1": {"protocol": "sim", "sim": sim}, "s2": {"protocol": "sim", "sim": sim}},
        "deployments": [{"provider": "s1", "model": "gpt-4o-mini"},
                        {"provider": "s2", "model": "gpt-4o-mini"}],
        "routes": {"chat": {"candidates": ["s1/gpt-4o-mini", "s2/gpt-4o-mini"]}},
    })
    clock = VirtualClock()
    engine = Engine(cfg, clock=clock, seed=2)
    records: list[RequestRecord] = []
    engine.on_record(records.append)

    async def many():
        for i in range(40):
            with contextlib.suppress(RoutingError):  # the record is what is checked
                await engine.complete(ask(f"question {i}", max_tokens=20))

    clock.run(many())
    assert len(records) == 40
    assert any(len(r.attempts) > 1 for r in records)  # failovers happened
    for r in records:
        assert_as_validated(r)
    u = records[0].usage
    assert isinstance(u, Usage) and u.total_tokens == u.prompt_tokens + u.completion_tokens
    with pytest.raises(ValidationError):  # a trusted Usage is still frozen
        u.prompt_tokens = 9  # type: ignore[misc]


def test_a_request_model_is_unchanged_by_recording():
    clock, engine, providers, records = setup()
    req = ChatRequest(messages=[{"role": "user", "content": "hi"}], model="chat", tags=["x"])
    clock.run(engine.complete(req))
    records[0].tags.append("y")
    assert req.tags == ["x"]
