"""Planning: what the engine decides about a request before its first attempt (the
route, what it needs of a deployment, its record id) and, per route walked, the order in
which to try that route's deployments, flags applied."""

from __future__ import annotations

import itertools
import logging
import os
import random
from dataclasses import dataclass, field, replace
from hashlib import blake2b
from typing import TYPE_CHECKING

import orjson

from axtui.config import Config, RouteConfig
from axtui.engine.rules import resolve_route
from axtui.engine.select import DeploymentState, Needs, RouteState, Steer, order
from axtui.engine.tokens import complexity, estimate_prompt
from axtui.flags.evaluate import FlagSet
from axtui.providers.base import ChatRequest
from axtui.providers.params import needed_capabilities
from axtui.records import Attempt

if TYPE_CHECKING:
    from axtui.cache import CacheNote
    from axtui.engine.transcribe import AudioNote

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS_ESTIMATE = 256  # when the caller sets no max_tokens
_NO_CAPS: frozenset[str] = frozenset()


@dataclass(slots=True)
class RequestContext:
    """Who is asking, and anything routing rules may look at."""

    user: str | None = None
    key_id: str | None = None  # already hashed by the caller (gateway)
    ip: str | None = None  # the client's address (gateway: see gateway/client_ip.py)
    tags: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    request_id: str | None = None
    complexity: str | None = None  # declared by the caller (an agent's task): no estimate
    face: str | None = None  # the API the request came through, when not OpenAI's
    # the face's status for each of the engine's, where they differ (Anthropic: 503 -> 529),
    # so the record says what the caller was told
    statuses: dict[int, int] | None = None
    region: str | None = None  # the caller's region (x-axtui-region header, or its key's)
    region_required: bool = False  # its key allows no other region


@dataclass(slots=True)
class Plan:
    """One request's routing state: decided before its first attempt, then filled in by
    the walk (the attempts made, the routes tried, the flags that touched it)."""

    request: ChatRequest
    ctx: RequestContext
    record_id: str
    started_at: float
    t0: float
    requested: str
    route: str
    needs: Needs
    content_hash: str | None
    reason: str
    attempts: list[Attempt] = field(default_factory=list)
    routes_tried: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)
    cache: CacheNote | None = None  # the response cache's lookup, on routes that cache
    audio: AudioNote | None = None  # a transcription's audio (engine/transcribe.py)


class Planner:
    """Turns a request into a Plan: record id, route (rules applied), needs."""

    def __init__(self, config: Config) -> None:
        self.rules = config.rules
        self.routes = config.routes
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()

    def next_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):010x}"

    def plan(self, request: ChatRequest, ctx: RequestContext, now: float, t0: float) -> Plan:
        est_in, has_images, text = estimate_prompt(request)
        if request.stream or request.tools or request.response_format or has_images \
                or request.params:
            caps = needed_capabilities(request)
            if request.stream:
                caps.add("streaming")
            if request.tools:
                caps.add("tools")
            if has_images:
                caps.add("vision")
            needed = frozenset(caps) if caps else _NO_CAPS
        else:
            needed = _NO_CAPS
        level = ctx.complexity or complexity(est_in, request, text)
        requested = request.model
        route, reason = requested, ""
        if self.rules:
            route, reason = resolve_route(
                self.rules, requested, user=ctx.user or request.user,
                tags=ctx.tags or request.tags, headers=ctx.headers, level=level)
        region, required = region_of(ctx, self.routes.get(route))
        needs = Needs(needed, est_in, request.max_tokens or DEFAULT_MAX_TOKENS_ESTIMATE, level,
                      region=region, region_required=required)
        content_hash = blake2b(orjson.dumps(request.messages), digest_size=12).hexdigest()
        return Plan(
            request,
            ctx,
            ctx.request_id or f"{self._id_prefix}{next(self._ids):010x}",
            now,
            t0,
            requested,
            route,
            needs,
            content_hash,
            reason,
            [],
            [],
            {},
        )


def region_of(ctx: RequestContext, route: RouteConfig | None) -> tuple[str | None, bool]:
    """(the request's region, whether it may be served only there): the caller's (header or
    key), else its route's. Settled once, by the route asked for first: fallbacks keep to it."""
    region, required = ctx.region, ctx.region_required
    if route is not None:
        region = region or route.region
        required = required or route.region_policy == "require"
    return region, required and region is not None


def choose(
    route: RouteState,
    plan: Plan,
    flags: FlagSet,
    deployments: dict[str, DeploymentState],
    rng: random.Random,
    counts: dict[str, int],
) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
    """order(), with the flags that touch this route applied to this request. `counts`
    gains `per_request` (a flag bucketed this request) and `errors` (a flag failed)."""
    if not flags.by_route:
        return order(route, plan.needs, rng)
    try:
        ctx = plan.ctx
        fx = flags.effects(route.name, plan.needs.caps, ctx.user or plan.request.user,
                           ctx.key_id, plan.record_id)
    except Exception:  # a flag must never stop a request: route as if it were off
        counts["errors"] += 1
        log.exception("flag evaluation failed on route %s", route.name)
        fx = None
    if fx is None:
        return order(route, plan.needs, rng)
    plan.flags.update(fx.variants)
    if fx.per_request:
        counts["per_request"] += 1
    needs = replace(plan.needs, grants=fx.grants) if fx.grants else plan.needs
    target = fx.only or fx.prefer
    steer = None
    if target is not None and target in deployments:
        steer = Steer(deployments[target], fx.only is not None, f"flag {fx.by}")
    ordered, skipped = order(route, needs, rng, steer)
    if steer is not None and ordered and ordered[0] is steer.deployment:
        plan.reason = f"{plan.reason or route.cfg.strategy}; flag {fx.by} → {target}"
    return ordered, skipped
