"""A runtime host over scripted providers and a real SQLite file, on a virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

from axtui.clock import Clock, VirtualClock
from axtui.providers.base import ChatRequest
from axtui.runtime import RuntimeHost
from axtui.store.db import open_store
from tests.engine.conftest import make_config
from tests.engine.scripted import ScriptedProvider


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/runtime.db"


def make_host(url: str, *, clock: Clock | None = None, config=None, **kw: Any):
    """A host and its scripted providers; the config's (default: tests/engine's three
    deployments) store url is `url`."""
    clock = clock or VirtualClock()
    store = {"url": url, **kw.pop("store", {})}
    if config is None:
        cfg = make_config(store=store)
    else:
        cfg = config.model_copy(update={"store": config.store.model_copy(update=store)})
    providers = {n: ScriptedProvider(n, clock) for n in cfg.providers}
    kw.setdefault("recorder", "thread")
    host = RuntimeHost(cfg, face=kw.pop("face", "demo"), clock=clock, providers=providers,
                       seed=1, **kw)
    return clock, host, providers


def ask(user: str = "u1") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}], model="chat", user=user)


def other_process(url: str):
    """Another process's view of the same store (its own connections)."""
    return open_store(url)
