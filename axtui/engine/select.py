"""Candidate filtering and the routing strategies.

A decision is two steps over a route's deployments: `filter` drops those that cannot or
should not take this request (capability, context window, drain, open breaker, no
headroom), saying why; `order` ranks the rest by the route's strategy. The attempt loop
walks that order. Both run on every request, so they stay allocation-light.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from axtui.config import RouteConfig
from axtui.engine.catalog import DeploymentSpec
from axtui.engine.health import CircuitBreaker, DeploymentHealth
from axtui.engine.limits import Headroom
from axtui.providers.base import Provider


@dataclass(slots=True, eq=False)
class DeploymentState:
    """Everything the engine knows about one deployment right now."""

    spec: DeploymentSpec
    provider: Provider
    health: DeploymentHealth
    breaker: CircuitBreaker
    headroom: Headroom
    drained: str | None = None  # the operator's reason, while drained

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(slots=True, eq=False)
class RouteState:
    name: str
    cfg: RouteConfig
    deployments: list[DeploymentState]
    turn: int = 0  # round-robin position
    _weights: list[float] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class Needs:
    caps: frozenset[str]
    prompt_tokens: int
    max_tokens: int  # what the request may produce (for the window and cost estimate)
    complexity: str = "medium"


def filter_candidates(
    route: RouteState, needs: Needs, extra: dict[str, DeploymentState] | None = None
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    """(usable deployments in route order, [(deployment, why skipped)]).
    `extra` adds deployments a flag made candidates for this request."""
    usable: list[DeploymentState] = []
    skipped: list[tuple[str, str]] = []
    window = needs.prompt_tokens + needs.max_tokens
    caps = needs.caps
    pool = route.deployments if not extra else [*route.deployments, *extra.values()]
    for st in pool:
        spec = st.spec
        if st.drained is not None:
            skipped.append((spec.id, f"drained: {st.drained}"))
        elif caps and not caps <= spec.capabilities:
            missing = ",".join(sorted(caps - spec.capabilities))
            skipped.append((spec.id, f"lacks {missing}"))
        elif window > spec.context_window:
            skipped.append((spec.id, f"context {window} > {spec.context_window}"))
        elif not st.breaker.available():
            skipped.append((spec.id, f"breaker {st.breaker.state}"))
        elif not st.headroom.has_room(needs.prompt_tokens + needs.max_tokens):
            skipped.append((spec.id, "no headroom"))
        else:
            usable.append(st)
    return usable, skipped


def _est_cost(st: DeploymentState, needs: Needs) -> int:
    s = st.spec
    return needs.prompt_tokens * s.price_in + needs.max_tokens * s.price_out


def _latency(st: DeploymentState) -> float:
    """Recent p95, or the EWMA while the window is thin; 0 when unknown so that a new
    deployment gets tried (and measured)."""
    h = st.health
    return h.p95_ms() or h.ewma_ms or 0.0


_CATEGORY_FOR = {"simple": "small", "medium": "small", "complex": "large"}


def order_candidates(
    route: RouteState, cands: list[DeploymentState], needs: Needs, rng: random.Random
) -> list[DeploymentState]:
    n = len(cands)
    if n <= 1:
        return cands
    strategy = route.cfg.strategy
    if strategy == "priority":
        ordered = cands
    elif strategy == "round_robin":
        k = route.turn % n
        route.turn += 1
        ordered = cands[k:] + cands[:k]
    elif strategy == "weighted":
        # Efraimidis-Spirakis: a weighted random order without replacement.
        ordered = sorted(cands, key=lambda st: rng.random() ** (1.0 / st.spec.weight),
                         reverse=True)
    elif strategy == "cost":
        ordered = sorted(cands, key=lambda st: _est_cost(st, needs))
    elif strategy == "latency":
        ordered = _by_latency(cands, route.cfg.latency_tolerance, rng)
    elif strategy == "performance":
        ordered = sorted(cands, key=_performance_score)
    elif strategy == "least_busy":
        ordered = sorted(cands, key=lambda st: (st.health.in_flight, rng.random()))
    elif strategy == "free_first":
        want = _CATEGORY_FOR.get(needs.complexity, "small")
        ordered = sorted(
            cands,
            key=lambda st: (
                not st.spec.free_tier,
                st.spec.category != want,
                _est_cost(st, needs),
            ),
        )
    else:  # config validation makes this unreachable
        ordered = cands
    if route.cfg.simple_to_small and needs.complexity == "simple":
        ordered = sorted(ordered, key=lambda st: st.spec.category != "small")  # stable
    return ordered


def _by_latency(
    cands: list[DeploymentState], tolerance: float, rng: random.Random
) -> list[DeploymentState]:
    scored = sorted(((_latency(st), st) for st in cands), key=lambda p: p[0])
    best = scored[0][0]
    band = best * (1.0 + tolerance)
    near = [st for lat, st in scored if lat <= band]
    rest = [st for lat, st in scored if lat > band]
    if len(near) > 1:
        rng.shuffle(near)  # spread load among near-ties instead of piling onto one
    return near + rest


def _performance_score(st: DeploymentState) -> float:
    """Lower is better: latency inflated by failures (a 90%-ok deployment pays ~23%)."""
    h = st.health
    ok = max(h.success_rate(), 0.05)
    return (_latency(st) or 1.0) / (ok * ok)
