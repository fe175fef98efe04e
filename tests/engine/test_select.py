"""Routing decisions: which deployments a request may use, and in what order each strategy
tries them. Health, prices and load are set by hand on a virtual clock."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from axtui.clock import VirtualClock
from axtui.engine.engine import Engine
from axtui.engine.select import Needs, eligible, filter_candidates, select
from axtui.records import ErrorKind

from .conftest import BASE, make_config
from .drains import apply_drains
from .scripted import ScriptedProvider

ALL = ["a/cheap", "b/mid", "c/dear"]


def build(route: dict[str, Any], deployments: list[dict] | None = None) -> Engine:
    cfg = make_config(routes={"r": route}, deployments=deployments or BASE["deployments"])
    clock = VirtualClock()
    providers = {n: ScriptedProvider(n, clock) for n in cfg.providers}
    return Engine(cfg, clock=clock, providers=providers, seed=1)


def needs(prompt: int = 100, out: int = 100, caps: tuple[str, ...] = (),
          complexity: str = "medium") -> Needs:
    return Needs(caps=frozenset(caps), prompt_tokens=prompt, max_tokens=out,
                 complexity=complexity)


def order(engine: Engine, n: Needs | None = None, rng: random.Random | None = None
          ) -> list[str]:
    chosen, _ = select(engine.routes["r"], n or needs(), rng or random.Random(0), k=10)
    return [st.id for st in chosen]


def dep(provider: str, model: str, **kw: Any) -> dict[str, Any]:
    return {"provider": provider, "model": model, "context_window": 100_000,
            "capabilities": ["streaming"], "price": {"input": "1", "output": "1"}} | kw


def latencies(engine: Engine, **p95_ms: float) -> None:
    """Give each deployment (by model) a steady latency history."""
    for st in engine.deployments.values():
        if st.spec.model in p95_ms:
            for _ in range(20):
                st.health.record_success(p95_ms[st.spec.model])


# --------------------------------------------------------------------------- strategies


def test_priority_keeps_the_route_order():
    engine = build({"candidates": ["c/dear", "a/cheap", "b/mid"], "strategy": "priority"})
    assert order(engine) == ["c/dear", "a/cheap", "b/mid"]
    assert order(engine) == ["c/dear", "a/cheap", "b/mid"]


def test_round_robin_starts_one_further_along_on_each_call():
    engine = build({"candidates": ALL, "strategy": "round_robin"})
    assert [order(engine)[0] for _ in range(4)] == ["a/cheap", "b/mid", "c/dear", "a/cheap"]


def test_round_robin_keeps_the_rest_of_the_order_behind_the_first():
    engine = build({"candidates": ALL, "strategy": "round_robin"})
    order(engine)
    assert order(engine) == ["b/mid", "c/dear", "a/cheap"]


def test_weighted_picks_first_in_proportion_to_the_weights():
    engine = build({"candidates": ["a/x", "b/y"], "strategy": "weighted"},
                   [dep("a", "x", weight=3), dep("b", "y", weight=1)])
    rng = random.Random(42)
    firsts = Counter(order(engine, rng=rng)[0] for _ in range(4000))
    assert abs(firsts["a/x"] / 4000 - 0.75) < 0.03


def test_weighted_still_lists_every_deployment_for_failover():
    engine = build({"candidates": ["a/x", "b/y"], "strategy": "weighted"},
                   [dep("a", "x", weight=3), dep("b", "y", weight=1)])
    assert sorted(order(engine)) == ["a/x", "b/y"]


def test_cost_puts_the_cheapest_for_the_estimated_tokens_first():
    engine = build({"candidates": ["c/dear", "b/mid", "a/cheap"], "strategy": "cost"})
    assert order(engine) == ["a/cheap", "b/mid", "c/dear"]


def test_cost_order_flips_when_the_prompt_to_output_ratio_flips():
    # x is cheap to read and dear to write; y the reverse
    engine = build({"candidates": ["a/x", "b/y"], "strategy": "cost"}, [
        dep("a", "x", price={"input": "1", "output": "10"}),
        dep("b", "y", price={"input": "5", "output": "2"}),
    ])
    assert order(engine, needs(prompt=10_000, out=100)) == ["a/x", "b/y"]
    assert order(engine, needs(prompt=100, out=10_000)) == ["b/y", "a/x"]


def test_latency_prefers_the_lowest_recent_p95():
    engine = build({"candidates": ALL, "strategy": "latency", "latency_tolerance": 0.1})
    latencies(engine, cheap=900, mid=200, dear=500)
    assert order(engine) == ["b/mid", "c/dear", "a/cheap"]


def test_latency_spreads_load_among_near_ties_within_the_band():
    engine = build({"candidates": ALL, "strategy": "latency", "latency_tolerance": 0.1})
    latencies(engine, cheap=900, mid=200, dear=215)  # dear is within 10% of mid
    rng = random.Random(3)
    orders = Counter(tuple(order(engine, rng=rng)) for _ in range(400))
    assert set(orders) == {("b/mid", "c/dear", "a/cheap"), ("c/dear", "b/mid", "a/cheap")}
    assert min(orders.values()) > 120  # an even split, not a token one


def test_latency_does_not_spread_beyond_the_band():
    engine = build({"candidates": ALL, "strategy": "latency", "latency_tolerance": 0.1})
    latencies(engine, cheap=900, mid=200, dear=230)  # 15% slower: outside the band
    rng = random.Random(3)
    assert {tuple(order(engine, rng=rng)) for _ in range(50)} == {
        ("b/mid", "c/dear", "a/cheap")}


def test_performance_penalises_a_deployment_that_fails():
    engine = build({"candidates": ALL, "strategy": "performance"})
    latencies(engine, cheap=300, mid=320, dear=340)
    cheap = engine.deployments["a/cheap"]
    for _ in range(20):
        cheap.health.record_failure(ErrorKind.server)
    assert order(engine) == ["b/mid", "c/dear", "a/cheap"]


def test_performance_without_failures_follows_latency():
    engine = build({"candidates": ALL, "strategy": "performance"})
    latencies(engine, cheap=300, mid=200, dear=340)
    assert order(engine) == ["b/mid", "a/cheap", "c/dear"]


def test_least_busy_picks_the_fewest_requests_in_flight():
    engine = build({"candidates": ALL, "strategy": "least_busy"})
    for d, n in {"a/cheap": 5, "b/mid": 0, "c/dear": 2}.items():
        engine.deployments[d].health.in_flight = n
    assert order(engine) == ["b/mid", "c/dear", "a/cheap"]


FREE_MIX = [
    dep("a", "paid-small", category="small", price={"input": "0.01", "output": "0.01"}),
    dep("b", "free-large", category="large", free_tier=True,
        price={"input": "2", "output": "2"}),
    dep("b", "free-small-dear", category="small", free_tier=True,
        price={"input": "1", "output": "1"}),
    dep("c", "free-small-cheap", category="small", free_tier=True,
        price={"input": "0.5", "output": "0.5"}),
]
FREE_IDS = [f"{d['provider']}/{d['model']}" for d in FREE_MIX]


def test_free_first_puts_free_tiers_first_matching_category_then_cost():
    engine = build({"candidates": FREE_IDS, "strategy": "free_first"}, FREE_MIX)
    assert order(engine, needs(complexity="simple")) == [
        "c/free-small-cheap", "b/free-small-dear", "b/free-large", "a/paid-small"]


def test_free_first_sends_complex_requests_to_a_large_free_model_first():
    engine = build({"candidates": FREE_IDS, "strategy": "free_first"}, FREE_MIX)
    assert order(engine, needs(complexity="complex")) == [
        "b/free-large", "c/free-small-cheap", "b/free-small-dear", "a/paid-small"]


def _small_and_large() -> list[dict]:
    # the large model is the cheapest here, so cost alone would pick it
    return [dep("a", "big", category="large", price={"input": "0.1", "output": "0.1"}),
            dep("b", "small", category="small", price={"input": "1", "output": "1"}),
            dep("c", "huge", category="large", price={"input": "3", "output": "3"})]


def test_simple_to_small_moves_small_models_first_for_simple_requests():
    engine = build({"candidates": ["a/big", "b/small", "c/huge"], "strategy": "cost",
                    "simple_to_small": True}, _small_and_large())
    assert order(engine, needs(complexity="simple")) == ["b/small", "a/big", "c/huge"]


def test_simple_to_small_leaves_other_requests_in_strategy_order():
    engine = build({"candidates": ["a/big", "b/small", "c/huge"], "strategy": "cost",
                    "simple_to_small": True}, _small_and_large())
    assert order(engine, needs(complexity="medium")) == ["a/big", "b/small", "c/huge"]


def test_without_simple_to_small_simple_requests_follow_the_strategy():
    engine = build({"candidates": ["a/big", "b/small", "c/huge"], "strategy": "cost"},
                   _small_and_large())
    assert order(engine, needs(complexity="simple")) == ["a/big", "b/small", "c/huge"]


def test_select_returns_at_most_k_deployments():
    engine = build({"candidates": ALL, "strategy": "priority"})
    chosen, _ = select(engine.routes["r"], needs(), random.Random(0), k=2)
    assert [st.id for st in chosen] == ["a/cheap", "b/mid"]


# --------------------------------------------------------------------------- eligibility


def skipped(engine: Engine, n: Needs | None = None) -> dict[str, str]:
    return dict(filter_candidates(engine.routes["r"], n or needs())[1])


def test_a_drained_deployment_is_skipped_with_the_operators_reason():
    engine = build({"candidates": ALL})
    apply_drains(engine, {"b/mid": "bad outputs since 10:02"})
    assert skipped(engine) == {"b/mid": "drained: bad outputs since 10:02"}
    assert order(engine) == ["a/cheap", "c/dear"]


def test_a_deployment_lacking_a_capability_is_skipped_naming_it():
    engine = build({"candidates": ALL})
    assert skipped(engine, needs(caps=("tools", "vision"))) == {
        "a/cheap": "lacks tools,vision", "b/mid": "lacks vision"}
    assert order(engine, needs(caps=("tools", "vision"))) == ["c/dear"]


def test_a_deployment_whose_window_is_too_small_is_skipped_naming_its_window():
    engine = build({"candidates": ALL})
    assert skipped(engine, needs(prompt=9_000, out=1_000)) == {
        "a/cheap": "context window 8000 too small"}


def test_eligibility_is_cached_until_the_drains_change():
    engine = build({"candidates": ALL})
    route = engine.routes["r"]
    first = eligible(route, needs())
    assert eligible(route, needs())[0] is first[0]  # same request kind: no re-walk
    apply_drains(engine, {"a/cheap": "maintenance"})
    usable, why = eligible(route, needs())
    assert [st.id for st in usable] == ["b/mid", "c/dear"]
    assert why == [("a/cheap", "drained: maintenance")]
    apply_drains(engine, {})
    usable, why = eligible(route, needs())
    assert [st.id for st in usable] == ALL
    assert why == []


def test_a_deployment_with_an_open_breaker_is_skipped():
    engine = build({"candidates": ALL})
    breaker = engine.deployments["a/cheap"].breaker
    for _ in range(engine.config.breaker.consecutive_failures):
        assert breaker.allow()
        breaker.on_failure(ErrorKind.server)
    assert skipped(engine) == {"a/cheap": "breaker open"}
    chosen, why = select(engine.routes["r"], needs(), random.Random(0), k=3)
    assert [st.id for st in chosen] == ["b/mid", "c/dear"]
    assert why == [("a/cheap", "breaker open")]


def test_a_deployment_without_headroom_is_skipped():
    engine = build({"candidates": ALL})
    engine.deployments["b/mid"].headroom.cooldown(30.0)  # a 429 asked us to wait
    assert skipped(engine) == {"b/mid": "no headroom"}
    chosen, why = select(engine.routes["r"], needs(), random.Random(0), k=3)
    assert [st.id for st in chosen] == ["a/cheap", "c/dear"]
    assert why == [("b/mid", "no headroom")]


def test_a_decision_lists_static_and_dynamic_skips_together():
    engine = build({"candidates": ALL})
    apply_drains(engine, {"c/dear": "flaky"})
    engine.deployments["b/mid"].headroom.cooldown(30.0)
    chosen, why = select(engine.routes["r"], needs(), random.Random(0), k=3)
    assert [st.id for st in chosen] == ["a/cheap"]
    assert dict(why) == {"c/dear": "drained: flaky", "b/mid": "no headroom"}
