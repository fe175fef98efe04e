from __future__ import annotations

import pytest

from axtui.config import parse_config
from axtui.store.db import open_store

# Two simulated deployments (virtual latency ~2 s a call) and two routes over them, priced so
# that a call's cost is easy to reason about: `smart` is thirty times dearer than `cheap`.
SIM = {"latency_p50_ms": 2000, "latency_p95_ms": 3000, "seed": 7}
CONFIG = {
    "providers": {"s": {"protocol": "sim", "sim": SIM}},
    "deployments": [
        {"provider": "s", "model": "small-model", "price": {"input": "1", "output": "2"},
         "category": "small"},
        {"provider": "s", "model": "large-model", "price": {"input": "30", "output": "60"},
         "category": "large"},
    ],
    "routes": {
        "cheap": {"candidates": ["s/small-model"]},
        "smart": {"candidates": ["s/large-model"]},
    },
}


def make_config(**extra):
    return parse_config({**CONFIG, **extra}, "agents-test.toml")


@pytest.fixture
def store(tmp_path):
    st = open_store(f"sqlite:///{tmp_path}/agents.db")
    yield st
    st.close()
