"""Flags under test: definitions, a store on a virtual clock, and synthetic traffic whose
cohort is decided by the real bucketing (so the observed split matches the percentage)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from axtui.clock import VirtualClock
from axtui.config import FlagConfig
from axtui.flags.bucketing import in_cohort
from axtui.flags.model import FlagState, tenths
from axtui.records import Attempt, ErrorKind, Outcome, RequestRecord, Usage
from axtui.store.db import open_store
from tests.engine.conftest import make_config

_ids = itertools.count()


def definition(**kw: Any) -> FlagConfig:
    """A split on route chat to c/dear with small sample limits, unless told otherwise."""
    data: dict[str, Any] = {
        "effect": {"kind": "split", "route": "chat", "deployment": "c/dear"},
        "gates": {"min_samples": 20},
        "ladder": [1, 5, 25, 50, 100],
    }
    for key, value in kw.items():
        if key in ("gates", "guardrails") and key in data:
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return FlagConfig.model_validate(data)


def config_with(**flags: FlagConfig):
    return make_config(flags={n: f.model_dump(mode="json", exclude_none=True)
                              for n, f in flags.items()})


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(f"sqlite:///{tmp_path}/flags.db", clock=clock)
    yield s
    s.close()


def request(
    *, user: str, variant: str | None, flag: str, at: float, latency_ms: float = 400.0,
    ok: bool = True, cost_nano: int = 5_000, deployment: str = "a/cheap",
) -> RequestRecord:
    usage = Usage(prompt_tokens=100, completion_tokens=20) if ok else None
    attempt = Attempt(deployment=deployment, started_at=at, latency_ms=latency_ms,
                      status=200 if ok else 503, usage=usage, cost_nano=cost_nano if ok else 0,
                      error_kind=None if ok else ErrorKind.server)
    return RequestRecord(
        id=f"r{next(_ids):08d}", started_at=at, ended_at=at + latency_ms / 1000, route="chat",
        requested_route="chat", user=user, attempts=[attempt],
        outcome=Outcome.ok if ok else Outcome.failed,
        error_kind=None if ok else ErrorKind.server, status=200 if ok else 502,
        deployment=deployment if ok else None, usage=usage, latency_ms=latency_ms,
        cost_nano=cost_nano if ok else 0, flags={} if variant is None else {flag: variant},
    )


def traffic(
    store, state: FlagState, *, users: int = 1000, start: float, spread_s: float = 60.0,
    cohort: dict[str, Any] | None = None, baseline: dict[str, Any] | None = None,
    fail_every: int = 0, prefix: str = "u",
) -> tuple[int, int]:
    """One request per user, bucketed like the engine does; `cohort`/`baseline` override
    request fields per side; `fail_every` fails every n-th cohort request. Returns
    (cohort requests, baseline requests)."""
    records, n_in = [], 0
    for i in range(users):
        uid = f"{prefix}{i}"
        inside = in_cohort(state.salt, uid, tenths(state.effective_pct))
        fields = dict((cohort if inside else baseline) or {})
        if inside:
            n_in += 1
            if fail_every and n_in % fail_every == 0:
                fields["ok"] = False
        records.append(request(user=uid, variant="on" if inside else "off", flag=state.name,
                               at=start + spread_s * i / users, **fields))
    store.write_records(records)
    return n_in, users - n_in
