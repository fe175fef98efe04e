"""The request's deadline bounds an attempt through the adapter itself (REQUEST_DEADLINE),
for the simulated provider on a virtual clock and for a real HTTP adapter on loopback."""

from __future__ import annotations

import time

import pytest

from axtui.clock import RealClock, VirtualClock
from axtui.config import parse_config
from axtui.engine.engine import Engine, RoutingError
from axtui.providers.base import ChatRequest
from axtui.records import ErrorKind
from tests.fakes.openai_upstream import OpenAIUpstream


def ask() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}], model="chat")


def test_a_slow_simulated_upstream_times_out_at_the_route_deadline():
    cfg = parse_config({
        "providers": {"s": {"protocol": "sim",
                            "sim": {"latency_p50_ms": 60_000, "latency_p95_ms": 60_000}}},
        "deployments": [{"provider": "s", "model": "m"}],
        "routes": {"chat": {"candidates": ["s/m"], "deadline_s": 2, "max_attempts": 1}},
    })
    clock = VirtualClock()
    engine = Engine(cfg, clock=clock, seed=1)
    assert engine.providers["s"].honours_deadline
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    rec = err.value.record
    assert rec.error_kind is ErrorKind.timeout
    assert rec.latency_ms == pytest.approx(2000, abs=1)
    assert "deadline" in rec.attempts[0].error


def test_the_sim_still_ends_at_its_total_timeout_when_the_deadline_is_later():
    cfg = parse_config({
        "providers": {"s": {"protocol": "sim", "timeout": {"total": 3},
                            "sim": {"latency_p50_ms": 60_000, "latency_p95_ms": 60_000}}},
        "deployments": [{"provider": "s", "model": "m"}],
        "routes": {"chat": {"candidates": ["s/m"], "deadline_s": 30, "max_attempts": 1}},
    })
    clock = VirtualClock()
    engine = Engine(cfg, clock=clock, seed=1)
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    assert err.value.record.latency_ms == pytest.approx(3000, abs=1)
    assert "3s" in err.value.record.attempts[0].error


async def test_an_http_upstream_slower_than_the_deadline_is_cut_at_the_deadline():
    async with OpenAIUpstream(latency_s=5.0) as up:
        cfg = parse_config({
            "providers": {"o": {"protocol": "openai", "base_url": up.base_url,
                                "timeout": {"total": 60}}},
            "deployments": [{"provider": "o", "model": "m"}],
            "routes": {"chat": {"candidates": ["o/m"], "deadline_s": 0.4,
                                "max_attempts": 1}},
        })
        engine = Engine(cfg, clock=RealClock())
        t = time.monotonic()
        with pytest.raises(RoutingError) as err:
            await engine.complete(ask())
        elapsed = time.monotonic() - t
        await engine.aclose()
    assert err.value.kind is ErrorKind.timeout
    assert 0.35 < elapsed < 1.5
    assert "deadline" in err.value.record.attempts[0].error
