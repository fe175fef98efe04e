"""Candidate filtering and the routing strategies.

A decision is two steps over a route's deployments: `filter` drops those that cannot or
should not take this request (capability, context window, drain, open breaker, no
headroom), saying why; `order` ranks the rest by the route's strategy. The attempt loop
walks that order. Both run on every request, so they stay allocation-light.
"""

from __future__ import annotations

import random
from bisect import bisect_left
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
    # cached routing scores (see _scores)
    latency_ms: float = 0.0
    success: float = 1.0
    scored_at: float = float("-inf")

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(slots=True, eq=False)
class RouteState:
    name: str
    cfg: RouteConfig
    deployments: list[DeploymentState]
    turn: int = 0  # round-robin position
    windows: list[int] = field(default_factory=list)  # distinct context windows, sorted
    cache: dict = field(default_factory=dict)  # eligible() results by request kind
    alone: bool = False  # no fallback or context fallback: the failover loop needs no plan

    def __post_init__(self) -> None:
        self.windows = sorted({st.spec.context_window for st in self.deployments})
        self.alone = not self.cfg.fallbacks and not self.cfg.context_fallback

    def invalidate(self) -> None:
        self.cache.clear()


@dataclass(slots=True)
class Needs:
    caps: frozenset[str]
    prompt_tokens: int
    max_tokens: int  # what the request may produce (for the window and cost estimate)
    complexity: str = "medium"
    # (deployment, capability) pairs a flag grants this request's cohort
    grants: frozenset[tuple[str, str]] = frozenset()
    region: str | None = None  # the request's region: its deployments go first
    region_required: bool = False  # ... and alone (data residency)


@dataclass(slots=True, frozen=True)
class Steer:
    """A flag's say in one decision: `deployment` first (split) or alone (force)."""

    deployment: DeploymentState
    exclusive: bool
    why: str  # "flag NAME", for skip reasons


def _static_skip(
    st: DeploymentState, caps: frozenset[str], window: int,
    grants: frozenset[tuple[str, str]] = frozenset(),
) -> str | None:
    spec = st.spec
    if st.drained is not None:
        return f"drained: {st.drained}"
    if spec.audio is not None and "transcription" not in caps:
        return "transcribes only"
    if caps and not caps <= spec.capabilities:
        missing = caps - spec.capabilities
        if grants:
            missing = {c for c in missing if (spec.id, c) not in grants}
        if missing:
            return "lacks " + ",".join(sorted(missing))
    if window > spec.context_window:
        # no request's numbers here: this text is cached for every request of the kind
        return f"context window {spec.context_window} too small"
    return None


def eligible(
    route: RouteState, needs: Needs
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    """Deployments that can take this kind of request at all (drain, capabilities, context
    window), in route order, and why the others cannot. Cached per route and request kind:
    these facts change only when an operator drains or undrains (`route.invalidate()`);
    a flag's capability grants are part of the kind."""
    window = needs.prompt_tokens + needs.max_tokens
    grants = needs.grants
    key = ((needs.caps, bisect_left(route.windows, window)) if not grants
           else (needs.caps, bisect_left(route.windows, window), grants))
    hit = route.cache.get(key)
    if hit is not None:
        return hit
    usable: list[DeploymentState] = []
    skipped: list[tuple[str, str]] = []
    for st in route.deployments:
        why = _static_skip(st, needs.caps, window, grants)
        if why is None:
            usable.append(st)
        else:
            skipped.append((st.spec.id, why))
    if len(route.cache) > 256:  # bounded: request kinds are few, but never trust that
        route.cache.clear()
    route.cache[key] = (usable, skipped)
    return usable, skipped


def filter_candidates(
    route: RouteState, needs: Needs
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    """(usable deployments in route order, [(deployment, why skipped)]), checking everything:
    static eligibility, breakers and headroom."""
    static, skipped = eligible(route, needs)
    skipped = list(skipped)
    usable = []
    tokens = needs.prompt_tokens + needs.max_tokens
    for st in static:
        why = dynamic_skip(st, tokens)
        if why is None:
            usable.append(st)
        else:
            skipped.append((st.spec.id, why))
    return usable, skipped


def misfit(route: RouteState, needs: Needs) -> tuple[str, str] | None:
    """Why no deployment of the route could ever serve this request, drains aside:
    ("unsupported", why) when none has the capabilities it needs, ("context_length", why)
    when none of those has the window; None when some deployment fits. The text names
    this request's own numbers (built per request, never cached)."""
    caps, grants = needs.caps, needs.grants
    if "transcription" not in caps and all(st.spec.audio for st in route.deployments):
        return ("unsupported", f"route {route.name} only transcribes: send audio to "
                "POST /v1/audio/transcriptions")
    capable = [st.spec for st in route.deployments
               if not caps or caps <= st.spec.capabilities
               or all((st.spec.id, c) in grants for c in caps - st.spec.capabilities)]
    if not capable:
        return ("unsupported", f"no deployment of route {route.name} supports "
                f"{', '.join(sorted(caps))}")
    if needs.region_required:
        capable = [spec for spec in capable if spec.region == needs.region]
        if not capable:
            return ("unsupported", f"region {needs.region} is required, and route "
                    f"{route.name} has no deployment there able to serve this request")
    window = needs.prompt_tokens + needs.max_tokens
    largest = max(spec.context_window for spec in capable)
    if window > largest:
        return ("context_length", f"request needs ~{window} tokens (prompt ~"
                f"{needs.prompt_tokens} + max_tokens {needs.max_tokens}), above every "
                f"context window of route {route.name} (largest {largest})")
    return None


# How near a deployment the walk passed over is to taking a call, best first.
READY, PREDICTED, COOLING, OPEN = range(4)


def standing(st: DeploymentState, tokens: int) -> tuple[int, float]:
    """(class, seconds): READY (can take a call now); PREDICTED (our estimate of its
    headroom says no: seconds until it says yes, the likelihood order); COOLING (the
    upstream's own 429: seconds until its retry-after has passed); OPEN (its breaker is
    open on faults: only a panic trial may go)."""
    cooling = max(st.headroom.cooling_s(), st.breaker.cooling_s())
    if cooling > 0.0:
        return COOLING, cooling
    if not st.breaker.available():
        return OPEN, 0.0
    if not st.headroom.has_room(tokens):
        return PREDICTED, st.headroom.wait_s(tokens)
    return READY, 0.0


def readiness(route: RouteState, max_wait_s: float = 0.0) -> str | None:
    """Why the route can serve nothing right now (every deployment drained, open on
    faults or cooling down after a 429 for longer than a request would wait), or None
    when some deployment could take a call (by our estimates or not), is half-open (its
    trials under way) or ends its cooldown within `max_wait_s`."""
    if not route.deployments:
        return "no deployments"
    reasons: dict[str, int] = {}
    soonest = None
    for st in route.deployments:
        if st.drained is not None:
            why = "drained"
        else:
            kind, wait = standing(st, 0)
            if kind in (READY, PREDICTED) or st.breaker.state == "half_open":
                return None  # a half-open breaker's trials are under way: recovering
            if kind == COOLING:
                if wait <= max_wait_s:
                    return None  # a request now would wait for it, then be served
                why = "rate limited"
                soonest = wait if soonest is None else min(soonest, wait)
            else:
                why = "breaker open"
        reasons[why] = reasons.get(why, 0) + 1
    text = ", ".join(f"{n} {why}" for why, n in reasons.items())
    if soonest is not None:
        text += f" (soonest retry in {soonest:.1f}s)"
    return f"every deployment out: {text}"


def dynamic_skip(st: DeploymentState, tokens: int) -> str | None:
    """Why `st` cannot take a call of `tokens` right now (open breaker, no headroom)."""
    if not st.breaker.available():
        return f"breaker {st.breaker.state}"
    if not st.headroom.has_room(tokens):
        return "no headroom"
    return None


def order(
    route: RouteState, needs: Needs, rng: random.Random, steer: Steer | None = None
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    """Deployments that can take this kind of request, in strategy order (a list of the
    caller's own), and why the others cannot; breakers and headroom are not looked at
    (see `dynamic_skip`). A flag's `steer` puts its deployment first (or alone), even one
    the route does not list; if that deployment cannot take the request, a split falls
    back to the route's order and a force leaves nothing."""
    static, skipped = eligible(route, needs)
    ordered = order_candidates(route, static, needs, rng)
    if steer is not None:
        ordered, skipped = _steered(ordered, skipped, needs, steer)
    if needs.region is not None:
        return _regional(ordered, skipped, needs.region, needs.region_required)
    return (ordered if ordered is not static else list(static)), skipped


def _regional(
    ordered: list[DeploymentState], skipped: list[tuple[str, str]], region: str, required: bool
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    """The request's region first (prefer) or alone (require); order kept within each."""
    inside = [st for st in ordered if st.spec.region == region]
    if required:
        outside = [(st.spec.id, f"region {st.spec.region or 'unset'}, not {region}")
                   for st in ordered if st.spec.region != region]
        return inside, ([*skipped, *outside] if outside else skipped)
    return inside + [st for st in ordered if st.spec.region != region], skipped


def select(
    route: RouteState, needs: Needs, rng: random.Random, k: int, steer: Steer | None = None
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    """One routing decision: the first `k` usable deployments in strategy order, and why
    the deployments passed over were skipped. Breakers and headroom are checked only
    while walking the order, so a decision costs O(eligible) arithmetic plus O(k) checks.
    The engine's failover loop does this walk lazily, one attempt at a time (`order`,
    then `dynamic_skip` per deployment reached); this eager form is what bench_select
    times, an upper bound on a decision's cost."""
    ordered, skipped = order(route, needs, rng, steer)
    chosen: list[DeploymentState] = []
    passed: list[tuple[str, str]] | None = None
    tokens = needs.prompt_tokens + needs.max_tokens
    for st in ordered:
        why = dynamic_skip(st, tokens)
        if why is None:
            chosen.append(st)
            if len(chosen) >= k:
                break
        else:
            if passed is None:
                passed = list(skipped)
            passed.append((st.spec.id, why))
    return chosen, (passed if passed is not None else skipped)


def _steered(
    ordered: list[DeploymentState], skipped: list[tuple[str, str]], needs: Needs, steer: Steer
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    st = steer.deployment
    why = _static_skip(st, needs.caps, needs.prompt_tokens + needs.max_tokens, needs.grants)
    if why is not None:
        skipped = [*skipped, (st.spec.id, f"{steer.why}: {why}")]
        return ([] if steer.exclusive else ordered), skipped
    if steer.exclusive:
        return [st], skipped
    return [st, *(o for o in ordered if o is not st)], skipped


def _by_cost(cands: list[DeploymentState], needs: Needs) -> list[DeploymentState]:
    pt, mt = needs.prompt_tokens, needs.max_tokens
    costs = [pt * st.spec.price_in + mt * st.spec.price_out for st in cands]
    return [cands[i] for i in sorted(range(len(cands)), key=costs.__getitem__)]


SCORE_TTL_S = 0.1  # latency and success scores are re-read at most this often


def _scores(st: DeploymentState) -> tuple[float, float]:
    """(latency ms, success rate): recent p95, or the EWMA while the window is thin, 0 when
    unknown so that a new deployment gets tried (and measured). Cached for SCORE_TTL_S:
    health moves on the scale of seconds, decisions happen thousands of times a second."""
    now = st.health.clock.monotonic()
    if now - st.scored_at > SCORE_TTL_S:
        h = st.health
        st.latency_ms = h.p95_ms() or h.ewma_ms or 0.0
        st.success = h.success_rate()
        st.scored_at = now
    return st.latency_ms, st.success


def _latency(st: DeploymentState) -> float:
    return _scores(st)[0]


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
        ordered = _by_cost(cands, needs)
    elif strategy == "latency":
        ordered = _by_latency(cands, route.cfg.latency_tolerance, rng)
    elif strategy == "performance":
        ordered = sorted(cands, key=_performance_score)
    elif strategy == "least_busy":
        ordered = sorted(cands, key=lambda st: (st.health.in_flight, rng.random()))
    elif strategy == "free_first":
        want = _CATEGORY_FOR.get(needs.complexity, "small")
        by_cost = _by_cost(cands, needs)  # sorted() is stable: cost breaks the ties below
        ordered = sorted(by_cost, key=lambda st: (not st.spec.free_tier,
                                                  st.spec.category != want))
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
    latency, ok = _scores(st)
    ok = max(ok, 0.05)
    return (latency or 1.0) / (ok * ok)
