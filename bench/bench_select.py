"""Selection cost: one decision (eligible set, strategy order, first 3 usable) over a
route of 50 deployments, with breakers and headroom checked as the order is walked.

Target: <= 20 µs per decision with 50 deployments (issue 2). Run: python bench/bench_select.py
"""

from __future__ import annotations

import random
import time

from axtui.clock import VirtualClock
from axtui.config import parse_config
from axtui.engine.engine import Engine
from axtui.engine.select import Needs, select

TARGET_US = 20.0
N = 50


def config(strategy: str):
    providers = {f"p{i}": {"protocol": "sim", "sim": {}} for i in range(N)}
    deployments = [
        {
            "provider": f"p{i}",
            "model": f"m{i}",
            "price": {"input": str(0.05 + i * 0.01), "output": str(0.2 + i * 0.03)},
            "capabilities": ["streaming", "tools", "json"] if i % 5 else ["streaming"],
            "context_window": 128_000 if i % 7 else 8_000,
            "rpm": 10_000,
        }
        for i in range(N)
    ]
    routes = {"r": {"candidates": [f"p{i}/m{i}" for i in range(N)], "strategy": strategy}}
    return parse_config({"providers": providers, "deployments": deployments, "routes": routes})


def measure(strategy: str, rounds: int = 20_000) -> float:
    clock = VirtualClock()
    engine = Engine(config(strategy), clock=clock, seed=1)
    rng = random.Random(1)
    for i, st in enumerate(engine.deployments.values()):  # give latency strategies data
        for _ in range(20):
            st.health.record_success(100 + i * 3 + rng.random() * 50)
    route = engine.routes["r"]
    needs = Needs(caps=frozenset({"tools"}), prompt_tokens=900, max_tokens=256, complexity="medium")
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(rounds):
            chosen, _ = select(route, needs, rng, 3)
        best = min(best, (time.perf_counter() - t) / rounds * 1e6)
    return best


def main() -> None:
    print(f"selection over a route of {N} deployments (first 3 usable), best of 5 runs")
    worst = 0.0
    for strategy in (
        "priority",
        "round_robin",
        "weighted",
        "cost",
        "latency",
        "performance",
        "least_busy",
        "free_first",
    ):
        us = measure(strategy)
        worst = max(worst, us)
        flag = "PASS" if us <= TARGET_US else "MISS"
        print(f"  {strategy:<12} {us:6.2f} µs/decision   (target <= {TARGET_US:g} µs) {flag}")
    print(
        f"worst: {worst:.2f} µs/decision (target <= {TARGET_US:g} µs) "
        f"{'PASS' if worst <= TARGET_US else 'MISS'}"
    )


if __name__ == "__main__":
    main()
