"""The fleet tests' config: three deployments behind one route, quotas and [redis]."""

from __future__ import annotations

from typing import Any

from axtui.config import Config, parse_config


def fleet_config(url: str | None, *, key_rpm: int | None = None, key_tpm: int | None = None,
                 deployment_rpm: int | None = None, cache: bool = False,
                 key_spend_usd: str | None = None, base_url: str = "http://127.0.0.1:9/v1",
                 quotas: dict[str, Any] | None = None, **redis: Any) -> Config:
    data: dict[str, Any] = {
        "providers": {
            "a": {"protocol": "openai", "base_url": base_url},
            "b": {"protocol": "openai", "base_url": base_url},
        },
        "deployments": [
            {"provider": "a", "model": "m1", "price": {"input": "1", "output": "2"},
             **({"rpm": deployment_rpm} if deployment_rpm else {})},
            {"provider": "b", "model": "m2", "price": {"input": "1", "output": "2"}},
        ],
        "routes": {"chat": {"candidates": ["a/m1", "b/m2"], "strategy": "cost",
                            **({"cache": {"ttl_s": 60}} if cache else {})}},
        "quotas": {"per_key": {k: v for k, v in (("rpm", key_rpm), ("tpm", key_tpm),
                                                 ("spend_day_usd", key_spend_usd)) if v},
                   **(quotas or {})},
        "redis": {"url": url, "timeout_s": 0.2, **redis},
    }
    return parse_config(data, "fleet-test.toml")
