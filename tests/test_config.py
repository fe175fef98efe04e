"""Loading and validating axtui.toml: what a user is told when the file is wrong."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from axtui.config import ConfigError, load_config, parse_config

# Two providers, three deployments, two routes: small enough to break one key at a time.
GOOD: dict[str, Any] = {
    "providers": {
        "openai": {"protocol": "openai", "api_key_env": "OPENAI_API_KEY"},
        "local": {"protocol": "sim", "sim": {"latency_p50_ms": 100, "latency_p95_ms": 300}},
    },
    "deployments": [
        {"provider": "openai", "model": "gpt-4o-mini"},
        {"provider": "openai", "model": "gpt-4o"},
        {"provider": "local", "model": "tiny"},
    ],
    "routes": {
        "chat": {"candidates": ["openai/gpt-4o-mini", "local/tiny"], "strategy": "cost",
                 "fallbacks": ["big"]},
        "big": {"candidates": ["openai/gpt-4o"]},
    },
}


def problems(mutate, source: str = "axtui.toml") -> list[str]:
    data = copy.deepcopy(GOOD)
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data, source)
    return err.value.problems


def test_the_bundled_demo_loads():
    cfg = load_config()
    assert len(cfg.deployments) == 10
    assert set(cfg.routes) == {"chat", "chat-fast", "chat-free", "chat-large", "chat-long",
                               "chat-eu", "chat-faq", "claude", "transcribe"}
    assert all(p.protocol == "sim" for p in cfg.providers.values())


def test_a_good_config_parses():
    cfg = parse_config(copy.deepcopy(GOOD), "axtui.toml")
    assert cfg.deployment("local/tiny").provider == "local"
    assert cfg.routes["chat"].fallbacks == ["big"]


def test_a_literal_api_key_is_refused_and_names_file_key_and_the_fix():
    lines = problems(lambda d: d["providers"]["openai"].update(api_key="sk-live-123456"))
    assert len(lines) == 1
    assert lines[0].startswith("axtui.toml: providers.openai.api_key: ")
    assert "api_key_env" in lines[0]
    assert "sk-live-123456" not in lines[0]


def test_an_authorization_header_is_refused_without_echoing_its_value():
    lines = problems(lambda d: d["providers"]["openai"].update(
        headers={"Authorization": "Bearer sk-live-123456"}))
    assert len(lines) == 1
    assert lines[0].startswith("axtui.toml: providers.openai.headers.Authorization: ")
    assert "api_key_env" in lines[0]
    assert "sk-live-123456" not in lines[0]


def test_an_api_key_header_is_refused():
    lines = problems(lambda d: d["providers"]["openai"].update(
        headers={"X-Api-Key": "sk-live-123456"}))
    assert lines[0].startswith("axtui.toml: providers.openai.headers: ")
    assert "api_key_env" in lines[0]
    assert "sk-live-123456" not in lines[0]


def test_an_unknown_key_is_named_with_its_path():
    lines = problems(lambda d: d["routes"]["chat"].update(stratgy="cost"))
    assert lines == ["axtui.toml: routes.chat.stratgy: unknown key"]


def test_an_unknown_strategy_names_the_key():
    lines = problems(lambda d: d["routes"]["chat"].update(strategy="fastest"))
    assert len(lines) == 1
    assert lines[0].startswith("axtui.toml: routes.chat.strategy: ")
    assert "'latency'" in lines[0]  # the message lists what is allowed


def test_an_out_of_range_value_names_the_key_and_the_bound():
    lines = problems(lambda d: d["routes"]["chat"].update(max_attempts=0))
    assert lines == ["axtui.toml: routes.chat.max_attempts: "
                     "Input should be greater than or equal to 1"]


def test_a_list_item_is_named_by_index():
    lines = problems(lambda d: d["deployments"][2].update(weight=-1))
    assert lines[0].startswith("axtui.toml: deployments[2].weight: ")


def test_an_unknown_deployment_in_a_route_is_named():
    lines = problems(lambda d: d["routes"]["chat"]["candidates"].append("openai/gpt-9"))
    assert lines == ["axtui.toml: routes.chat.candidates: unknown deployment 'openai/gpt-9'"]


def test_an_unknown_fallback_route_is_named():
    lines = problems(lambda d: d["routes"]["chat"].update(fallbacks=["huge"]))
    assert lines == ["axtui.toml: routes.chat.fallbacks: unknown route 'huge'"]


def test_a_route_falling_back_to_itself_is_refused():
    lines = problems(lambda d: d["routes"]["chat"].update(fallbacks=["chat"]))
    assert lines == ["axtui.toml: routes.chat.fallbacks: a route cannot fall back to itself"]


def test_an_unknown_provider_is_named():
    lines = problems(lambda d: d["deployments"].append({"provider": "azure", "model": "x"}))
    assert lines == ["axtui.toml: deployments[3].provider: unknown provider 'azure'"]


def test_every_reference_problem_is_reported_on_its_own_line():
    def two(d):
        d["routes"]["chat"]["fallbacks"] = ["huge"]
        d["routes"]["big"]["candidates"] = ["nope/x"]

    lines = problems(two)
    assert sorted(lines) == sorted([
        "axtui.toml: routes.chat.fallbacks: unknown route 'huge'",
        "axtui.toml: routes.big.candidates: unknown deployment 'nope/x'",
    ])


def test_a_sim_provider_without_a_profile_is_refused():
    lines = problems(lambda d: d["providers"]["local"].pop("sim"))
    assert lines == ["axtui.toml: providers.local.sim: a sim provider needs a [sim] profile"]


def test_a_budget_on_an_unknown_route_is_named():
    lines = problems(lambda d: d.update(budgets=[{"scope": "route:nope", "limit_usd": "1"}]))
    assert lines == ["axtui.toml: budgets[0].scope: unknown route 'nope'"]


def test_invalid_toml_names_the_file(tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text('[providers.a]\nprotocol = "openai\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (line,) = err.value.problems
    assert line.startswith(f"{path}: not valid TOML")


def test_a_missing_file_is_reported_as_not_found(tmp_path: Path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [f"{path}: file not found"]


def test_a_file_on_disk_is_validated_with_its_name_in_each_line(tmp_path: Path):
    path = tmp_path / "axtui.toml"
    path.write_text('[providers.a]\nprotocol = "openai"\napi_key = "sk-x"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems[0].startswith(f"{path}: providers.a.api_key: ")
