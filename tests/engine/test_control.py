"""Drains travel through the store's control plane to every engine sharing it."""

from __future__ import annotations

import pytest

from axtui.clock import VirtualClock
from axtui.engine.control import ControlSync, drain, undrain
from axtui.engine.engine import Engine
from axtui.providers.base import ChatRequest
from axtui.store.db import open_store

from .conftest import make_config
from .scripted import ScriptedProvider


def engine_on(store_url: str):
    clock = VirtualClock()
    cfg = make_config()
    providers = {n: ScriptedProvider(n, clock) for n in cfg.providers}
    engine = Engine(cfg, clock=clock, providers=providers, seed=1)
    store = open_store(store_url)
    return clock, engine, store, ControlSync(engine, store)


def ask() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}], model="chat")


def test_a_drain_written_by_one_process_is_applied_by_another_engine(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    clock, engine, _, sync = engine_on(url)
    operator = open_store(url)  # another process's view of the same file
    sync.sync_now()
    assert clock.run(engine.complete(ask())).record.deployment == "a/cheap"

    drain(operator, "a/cheap", "bad output", by="oncall")
    assert sync.sync_now() is True
    assert engine.deployments["a/cheap"].drained == "bad output"
    assert clock.run(engine.complete(ask())).record.deployment == "b/mid"
    assert [e.kind for e in operator.events(subject="a/cheap")] == ["drain"]

    assert undrain(operator, "a/cheap", by="oncall") is True
    sync.sync_now()
    assert engine.deployments["a/cheap"].drained is None
    assert clock.run(engine.complete(ask())).record.deployment == "a/cheap"


def test_an_unchanged_control_plane_is_not_reloaded(tmp_path):
    clock, engine, store, sync = engine_on(f"sqlite:///{tmp_path}/s.db")
    assert sync.sync_now() is True
    assert sync.sync_now() is False


def test_a_drain_needs_a_reason(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    with pytest.raises(ValueError, match="reason"):
        drain(store, "a/cheap", "  ", by="oncall")
    assert store.get_control("drain:a/cheap") is None
