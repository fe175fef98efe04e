"""What a deployment costs and can do: config first, then the bundled price data, then
'unknown'; costs exact in nano-dollars."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from axtui.config import parse_config
from axtui.engine.catalog import Catalog, DeploymentSpec


def spec(model: str = "gpt-4o-mini", provider: dict[str, Any] | None = None,
         **deployment: Any) -> DeploymentSpec:
    cfg = parse_config({
        "providers": {"p": provider or {"protocol": "openai"}},
        "deployments": [{"provider": "p", "model": model, **deployment}],
        "routes": {"chat": {"candidates": [f"p/{model}"]}},
    }, "test.toml")
    return Catalog(cfg)[f"p/{model}"]


def test_gpt_4o_mini_is_priced_from_the_bundled_data():
    s = spec()
    assert s.price_source == "genai-prices"
    assert s.usd_per_mtok() == (Decimal("0.15"), Decimal("0.6"))


def test_a_config_price_overrides_the_bundled_data():
    s = spec(price={"input": "1.25", "output": "5"})
    assert s.price_source == "config"
    assert s.usd_per_mtok() == (Decimal("1.25"), Decimal("5"))


def test_a_sim_provider_is_priced_as_the_vendor_it_models():
    s = spec("llama-3.1-8b-instant", {"protocol": "sim", "vendor": "groq",
                                      "sim": {"latency_p50_ms": 100}})
    assert s.price_source == "genai-prices"
    assert s.usd_per_mtok() == (Decimal("0.05"), Decimal("0.08"))


def test_an_unknown_model_is_marked_unknown_and_costs_nothing():
    s = spec("house-model-7")
    assert s.price_source == "unknown"
    assert s.usd_per_mtok() == (Decimal(0), Decimal(0))
    assert s.cost_nano(10_000, 5_000) == 0


def test_an_unknown_model_gets_conservative_defaults():
    s = spec("house-model-7")
    assert s.capabilities == frozenset({"streaming"})
    assert s.context_window == 8_192
    assert s.category == "small"


def test_a_known_family_supplies_capabilities_window_and_category():
    s = spec("gpt-4o")
    assert s.capabilities == frozenset({"streaming", "tools", "json", "vision", "json_schema",
                                        "logprobs", "logit_bias", "parallel_tool_calls"})
    assert s.context_window == 128_000
    assert s.category == "large"


def test_config_capabilities_window_and_category_win_over_the_family_table():
    s = spec("gpt-4o", capabilities=["json"], context_window=4_000, category="small")
    assert (s.capabilities, s.context_window, s.category) == (frozenset({"json"}), 4_000,
                                                              "small")


def test_a_provider_free_tier_makes_its_deployments_free_unless_they_say_otherwise():
    free = {"protocol": "openai", "free_tier": {"rpm": 10}}
    assert spec(provider=free).free_tier is True
    assert spec(provider=free, free_tier=False).free_tier is False
    assert spec().free_tier is False


def test_cost_of_1000_prompt_and_200_completion_tokens_on_gpt_4o_mini():
    # 1000 * $0.15/M + 200 * $0.60/M = $0.00027
    assert spec().cost_nano(1000, 200) == 270_000


def test_cached_prompt_tokens_are_priced_at_the_cached_rate():
    # 600 * $0.15/M + 400 * $0.075/M + 200 * $0.60/M = $0.00024
    assert spec().cost_nano(1000, 200, cached=400) == 240_000


def test_cached_tokens_without_a_cached_price_cost_the_input_rate():
    s = spec(price={"input": "2", "output": "8"})
    assert s.cost_nano(1000, 0, cached=500) == s.cost_nano(1000, 0) == 2_000_000


def test_cached_tokens_beyond_the_prompt_are_not_discounted_twice():
    s = spec(price={"input": "2", "output": "8", "cached_input": "1"})
    assert s.cost_nano(100, 0, cached=1_000) == s.cost_nano(100, 0, cached=100) == 100_000


def test_cache_writes_are_priced_at_the_cache_write_rate():
    s = spec(price={"input": "2", "output": "8", "cached_input": "1",
                    "cache_write_input": "2.5"})
    # 100 * $2/M + 300 * $1/M + 600 * $2.5/M = $0.0020
    assert s.cost_nano(1000, 0, cached=300, written=600) == 2_000_000


def test_cache_writes_without_a_write_price_cost_the_input_rate():
    s = spec(price={"input": "2", "output": "8"})
    assert s.cost_nano(1000, 0, written=600) == s.cost_nano(1000, 0) == 2_000_000


def test_cache_writes_beyond_the_uncached_prompt_are_not_counted_twice():
    s = spec(price={"input": "2", "output": "8", "cached_input": "1",
                    "cache_write_input": "2.5"})
    assert s.cost_nano(100, 0, cached=40, written=1_000) \
        == s.cost_nano(100, 0, cached=40, written=60) == 190_000


def test_claudes_bundled_price_makes_a_cache_write_cost_a_quarter_more_than_input():
    s = spec("claude-3-5-haiku-latest", ANTHROPIC)
    assert s.cost_nano(1_000_000, 0, written=1_000_000) * 4 == s.cost_nano(1_000_000, 0) * 5


def test_sub_nano_amounts_round_half_up_once_per_call():
    s = spec(price={"input": "0.0005", "output": "0.000499"})  # 0.5 and 0.499 nano a token
    assert s.cost_nano(1, 0) == 1
    assert s.cost_nano(0, 1) == 0
    assert s.cost_nano(3, 0) == 2  # 1.5 rounds once, not 3 x 0.5 rounded up
    assert s.cost_nano(1, 1) == 1  # 0.999


def test_prices_with_many_decimals_are_held_exactly():
    s = spec(price={"input": "0.075", "output": "0.3"})
    assert s.cost_nano(1_000_000, 1_000_000) == 375_000_000


ANTHROPIC = {"protocol": "anthropic"}


def test_claude_has_no_json_mode_and_follows_a_schema_only_from_4_5():
    old, new = spec("claude-3-5-haiku-latest", ANTHROPIC), spec("claude-sonnet-4-5", ANTHROPIC)
    assert not {"json", "json_schema"} & old.capabilities
    assert "json_schema" in new.capabilities and "json" not in new.capabilities


def test_the_catalog_knows_claudes_output_limit_and_config_overrides_it():
    assert spec("claude-sonnet-4-5", ANTHROPIC).max_output_tokens == 64_000
    assert spec("claude-3-5-haiku-latest", ANTHROPIC).max_output_tokens == 8_192
    assert spec("claude-sonnet-4-5", ANTHROPIC, max_output_tokens=900).max_output_tokens == 900


def test_a_parameter_capability_the_protocol_cannot_carry_is_removed_from_the_config_list():
    s = spec("claude-sonnet-4-5", ANTHROPIC,
             capabilities=["tools", "logprobs", "logit_bias", "parallel_tool_calls"])
    assert s.capabilities == frozenset({"tools", "parallel_tool_calls"})


def test_openai_reasoning_models_have_no_logprobs():
    assert not {"logprobs", "logit_bias"} & spec("o4-mini").capabilities
    assert {"logprobs", "logit_bias"} <= spec("gpt-5-chat-latest").capabilities
