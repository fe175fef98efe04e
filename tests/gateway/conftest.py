"""One running gateway per test module, in front of loopback fakes of OpenAI (two accounts,
one dead-slow, one always 429, one that echoes a wrong key), Anthropic and Gemini."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream
from tests.fakes.openai_upstream import OpenAIUpstream

from .harness import (
    ADMIN_ENV,
    ADMIN_TOKEN,
    Failing,
    LoopThread,
    Served,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
)

KEYS = {
    "alice": "axt-alice-0123456789",  # no limits
    "one": "axt-one-rpm-0123456789",  # 1 request per minute
    "chatonly": "axt-chat-only-0123456789",  # may use the `chat` route only
    "broke": "axt-broke-0123456789",  # a daily budget of $0
}
KEY_ENV = {name: f"AXTUI_TEST_KEY_{name.upper()}" for name in KEYS}
UPSTREAM_SECRET = "sk-test-upstream-secret-0123456789abcdef"
UPSTREAM_KEY_ENV = "AXTUI_TEST_LEAKY_UPSTREAM_KEY"


@dataclass
class Env:
    loop: LoopThread
    served: Served
    a: OpenAIUpstream
    b: OpenAIUpstream
    claude: AnthropicUpstream
    gem: GeminiUpstream
    limited: Failing
    slow: OpenAIUpstream
    leaky: OpenAIUpstream

    @property
    def base_url(self) -> str:
        return self.served.base_url

    @property
    def url(self) -> str:
        return self.served.url

    def client(self, key: str | None = KEYS["alice"], **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key or "none", max_retries=0,
                             timeout=kw.pop("timeout", 15), **kw)

    def async_client(self, key: str | None = KEYS["alice"], **kw: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key or "none", max_retries=0,
                                  timeout=kw.pop("timeout", 15), **kw)


def config_data(env: dict[str, Any], store_url: str) -> dict[str, Any]:
    return {
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {
            "a": openai_provider(env["a"].base_url),
            "b": openai_provider(env["b"].base_url),
            "claude": {"protocol": "anthropic", "base_url": env["claude"].base_url},
            "gem": {"protocol": "gemini", "base_url": env["gem"].base_url},
            "limited": openai_provider(env["limited"].base_url),
            "slow": openai_provider(env["slow"].base_url),
            "leaky": {**openai_provider(env["leaky"].base_url), "api_key_env": UPSTREAM_KEY_ENV},
        },
        "deployments": [
            deployment("a", "gpt-a"),
            deployment("b", "gpt-b"),
            deployment("claude", "claude-3-5-haiku-latest"),
            deployment("gem", "gemini-2.0-flash"),
            deployment("limited", "x"),
            deployment("limited", "y"),
            deployment("slow", "s"),
            deployment("leaky", "l"),
        ],
        "routes": {
            "chat": {"candidates": ["a/gpt-a", "b/gpt-b"], "strategy": "priority"},
            "claude": {"candidates": ["claude/claude-3-5-haiku-latest"]},
            "gemini": {"candidates": ["gem/gemini-2.0-flash"]},
            "limited": {"candidates": ["limited/x", "limited/y"], "max_attempts": 2},
            "slow": {"candidates": ["slow/s"], "max_attempts": 1},
            "leaky": {"candidates": ["leaky/l"], "max_attempts": 1},
            "budgeted": {"candidates": ["a/gpt-a"]},
        },
        "budgets": [{"scope": "route:budgeted", "period": "day", "limit_usd": "0"}],
        "quotas": {"per_key": {"rpm": 10000}},
        "keys": [
            {"name": "alice", "key_env": KEY_ENV["alice"]},
            {"name": "one", "key_env": KEY_ENV["one"], "rpm": 1},
            {"name": "chatonly", "key_env": KEY_ENV["chatonly"], "routes": ["chat"]},
            {"name": "broke", "key_env": KEY_ENV["broke"], "budget_day_usd": "0"},
        ],
        "gateway": {"admin_token_env": ADMIN_ENV, "max_body_bytes": 65536, "body_timeout_s": 1},
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    loop = LoopThread()
    os.environ[UPSTREAM_KEY_ENV] = UPSTREAM_SECRET  # providers read their keys from here
    fakes = {
        "a": OpenAIUpstream(reply_text="Hello from upstream A."),
        "b": OpenAIUpstream(reply_text="Hello from upstream B."),
        "claude": AnthropicUpstream(reply_text="Bonjour from Claude."),
        "gem": GeminiUpstream(reply_text="Hallo from Gemini."),
        "limited": Failing(429, {"retry-after": "7"}),
        "slow": OpenAIUpstream(latency_s=1.5),
        "leaky": OpenAIUpstream(api_key="sk-the-right-one-000000", echo_full_key=True),
    }
    for f in fakes.values():
        loop.run(f.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('gateway')}/gw.db"
    environ = {KEY_ENV[n]: k for n, k in KEYS.items()} | {ADMIN_ENV: ADMIN_TOKEN}
    served = loop.run(start_gateway(make_config(config_data(fakes, store_url)), store_url,
                                    environ))
    try:
        yield Env(loop, served, **fakes)
    finally:
        loop.run(stop_gateway(served))
        for f in fakes.values():
            loop.run(f.close())
        loop.close()
        os.environ.pop(UPSTREAM_KEY_ENV, None)
