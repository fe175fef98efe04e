from __future__ import annotations

import copy
from typing import Any

from axtui.config import parse_config

# Three scripted providers, prices chosen so that cost order is cheap < mid < dear.
BASE: dict[str, Any] = {
    "providers": {
        "a": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"},
        "b": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"},
        "c": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"},
    },
    "deployments": [
        {"provider": "a", "model": "cheap", "price": {"input": "0.10", "output": "0.40"},
         "capabilities": ["streaming", "json"], "context_window": 8000, "category": "small"},
        {"provider": "b", "model": "mid", "price": {"input": "1", "output": "4"},
         "capabilities": ["streaming", "tools", "json"], "context_window": 128000,
         "category": "small"},
        {"provider": "c", "model": "dear", "price": {"input": "3", "output": "15"},
         "capabilities": ["streaming", "tools", "json", "vision"], "context_window": 200000,
         "category": "large"},
    ],
    "routes": {
        "chat": {"candidates": ["a/cheap", "b/mid", "c/dear"], "strategy": "cost",
                 "max_attempts": 3, "deadline_s": 30},
    },
}


def make_config(**overrides: Any):
    data = copy.deepcopy(BASE)
    for key, value in overrides.items():
        data[key] = value
    return parse_config(data, "test.toml")
