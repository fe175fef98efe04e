"""Sims for tests: scenarios built inline, each served on loopback in a background thread."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from axtui.clock import Clock
from axtui.sim.scenario import Scenario, parse_scenario
from axtui.sim.server import SimServer

FAST = {"latency_ms": 1, "ttft_ms": 1, "chunk_ms": 0, "output_tokens": 8}


def scenario(*upstreams: dict[str, Any], faults: tuple[dict[str, Any], ...] = (),
             seed: int = 0) -> Scenario:
    """A scenario of fast upstreams (`{"name": "alpha", ...}` over FAST) and faults."""
    return parse_scenario({
        "scenario": {"name": "test", "seed": seed},
        "upstreams": [{**FAST, **u} for u in upstreams],
        "faults": list(faults),
    }, "<test>")


SimFactory = Callable[..., SimServer]


@pytest.fixture
def sim() -> Iterator[SimFactory]:
    """`sim(scenario, seed=None, clock=None)` starts a SimServer, stopped after the test."""
    started: list[SimServer] = []

    def start(sc: Scenario, *, seed: int | None = None, clock: Clock | None = None
              ) -> SimServer:
        server = SimServer(sc, seed=seed, clock=clock).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# httpx writes a request's head and body apart; without NODELAY the body waits ~40 ms for
# the server's delayed ACK
_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.HTTPTransport(socket_options=_NODELAY)) as client:
        yield client


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The shared client axtui's adapters use (its HTTP/1.1 pool), closed after the test."""
    from axtui.providers.transport import make_http_client

    client = make_http_client()
    yield client
    await client.aclose()
