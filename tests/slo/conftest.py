"""A real store on a virtual clock, and traffic for one route made by hand."""

from __future__ import annotations

import pytest

from axtui.clock import VirtualClock
from axtui.records import ErrorKind
from axtui.store.db import open_store
from tests.store.factory import T0, attempt, record


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=T0)


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(f"sqlite:///{tmp_path}/slo.db", clock=clock)
    yield s
    s.close()


def requests(start: float, n: int, *, route: str = "chat", failed: int = 0,
             caller: int = 0, no_candidates: int = 0, slow: int = 0, slow_ms: float = 5000.0,
             spacing_s: float = 1.0) -> list:
    """`n` requests from `start`, one every `spacing_s`: the first `failed` fail upstream
    (server), the next `caller` are refused by a quota, the next `no_candidates` find no
    deployment, the next `slow` succeed in `slow_ms`; the rest succeed in 420 ms."""
    out = []
    for i in range(n):
        t = start + i * spacing_s
        if i < failed:
            out.append(record(started_at=t, route=route,
                              attempts=[attempt(started_at=t, error_kind=ErrorKind.server)]))
        elif i < failed + caller:
            out.append(record(started_at=t, route=route, attempts=[],
                              error_kind=ErrorKind.quota))
        elif i < failed + caller + no_candidates:
            out.append(record(started_at=t, route=route, attempts=[],
                              error_kind=ErrorKind.no_candidates))
        elif i < failed + caller + no_candidates + slow:
            out.append(record(started_at=t, route=route,
                              attempts=[attempt(started_at=t, latency_ms=slow_ms)]))
        else:
            out.append(record(started_at=t, route=route))
    return out
