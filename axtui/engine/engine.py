"""The request pipeline: one chat request in, one answer (or one clear error) out, and
exactly one RequestRecord for it.

    rules → quotas → budget → candidates → order → attempt loop (failover) → record

The engine knows no HTTP server and no UI. It is the only retry loop in axtui.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
from bisect import bisect_left
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from hashlib import blake2b
from typing import TYPE_CHECKING, TypeVar

import httpx
import orjson

from axtui.clock import Clock, RealClock
from axtui.config import Config
from axtui.engine.budget import Budgets, ThresholdCrossed
from axtui.engine.catalog import Catalog, DeploymentSpec
from axtui.engine.failover import Next, backoff_s, decide, may_retry_same, status_for
from axtui.engine.health import CircuitBreaker, DeploymentHealth
from axtui.engine.limits import CallerQuotas, Headroom
from axtui.engine.rules import resolve_route
from axtui.engine.select import DeploymentState, Needs, RouteState, Steer, dynamic_skip, order
from axtui.engine.tokens import complexity, estimate_prompt
from axtui.flags.evaluate import FlagSet
from axtui.flags.model import EnvOverrides
from axtui.providers import build_provider
from axtui.providers.base import (
    REQUEST_DEADLINE,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Provider,
    ProviderError,
)
from axtui.records import Attempt, ErrorKind, Outcome, RequestRecord, Usage, trusted

if TYPE_CHECKING:
    from axtui.engine.stream import EngineStream

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MAX_TOKENS_ESTIMATE = 256  # when the caller sets no max_tokens
_NO_CAPS: frozenset[str] = frozenset()


@dataclass(slots=True)
class RequestContext:
    """Who is asking, and anything routing rules may look at."""

    user: str | None = None
    key_id: str | None = None  # already hashed by the caller (gateway)
    tags: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    request_id: str | None = None


class RoutingError(Exception):
    """The request could not be served; `record` says everything that happened."""

    def __init__(self, record: RequestRecord, retry_after_s: float | None = None) -> None:
        super().__init__(record.error or record.error_kind)
        self.record = record
        self.kind = record.error_kind or ErrorKind.server
        self.status = record.status
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class EngineResult:
    response: ChatResponse
    record: RequestRecord


@dataclass(slots=True)
class _Plan:
    """What the engine decided about a request before its first attempt."""

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


class Engine:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        providers: dict[str, Provider] | None = None,
        http_client: httpx.AsyncClient | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or RealClock()
        self.rng = random.Random(seed)
        self.catalog = Catalog(config)
        self._own_client = False
        if providers is None:
            needs_http = any(p.protocol != "sim" for p in config.providers.values())
            if needs_http and http_client is None:
                from axtui.providers.base import make_http_client

                http_client = make_http_client()
                self._own_client = True
            sim_models: dict[str, dict] = {}
            for d in config.deployments:
                if d.sim is not None:
                    sim_models.setdefault(d.provider, {})[d.model] = d.sim
            providers = {
                name: build_provider(name, p, http_client, self.clock, sim_models.get(name))
                for name, p in config.providers.items()
            }
        self.http_client = http_client
        self.providers = providers
        self.deployments: dict[str, DeploymentState] = {}
        for spec in self.catalog:
            self.deployments[spec.id] = self._state_for(spec)
        self.routes: dict[str, RouteState] = {
            name: RouteState(name, r, [self.deployments[c] for c in r.candidates])
            for name, r in config.routes.items()
        }
        self.quotas = CallerQuotas(self.clock, config.quotas.per_user, config.quotas.per_key)
        self.budgets = Budgets(self.clock, config.budgets, self._on_budget_threshold)
        self._listeners: list[Callable[[RequestRecord], None]] = []
        self._event_listeners: list[Callable[[str, str, dict], None]] = []
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        self.in_flight = 0
        # set by the server as it cancels what is still in flight at shutdown: such a cancel
        # is the server's (recorded 503, what the client is told), not a caller leaving (499)
        self.stopping = False
        # flags: this process's env overrides are read once; the set is rebuilt on change
        self.flag_overrides = EnvOverrides.read()
        self._capabilities = {spec.id: spec.capabilities for spec in self.catalog}
        self.flags = FlagSet.empty()
        self.flag_counts = {"per_request": 0, "errors": 0}  # bucketed by request id; failures
        self._set_flags(FlagSet.from_snapshot(None, config, self._capabilities,
                                              self.flag_overrides, now=self.clock.now()))

    # ------------------------------------------------------------------ set-up

    def _state_for(self, spec: DeploymentSpec) -> DeploymentState:
        pcfg = self.config.providers[spec.provider]
        dcfg = self.config.deployment(spec.id)
        free = pcfg.free_tier
        headroom = Headroom(
            self.clock,
            rpm=dcfg.rpm or pcfg.rpm or (free.rpm if free else None),
            tpm=dcfg.tpm or pcfg.tpm or (free.tpm if free else None),
            rpd=free.rpd if free else None,
            tpd=free.tpd if free else None,
        )
        breaker = CircuitBreaker(self.clock, self.config.breaker, deployment=spec.id,
                                 on_transition=self._on_breaker_transition)
        return DeploymentState(
            spec=spec,
            provider=self.providers[spec.provider],
            health=DeploymentHealth(self.clock),
            breaker=breaker,
            headroom=headroom,
        )

    def _on_breaker_transition(self, deployment: str, old: str, new: str, reason: str) -> None:
        detail = {"from": str(old), "to": str(new), "reason": reason}
        st = self.deployments.get(deployment)
        if st is not None and str(new) == "open":
            detail["until"] = st.breaker.open_until  # wall time; readers can tell it expired
        self._emit_event("breaker", deployment, detail)

    def _on_budget_threshold(self, t: ThresholdCrossed) -> None:
        self._emit_event(
            "budget_threshold",
            t.scope,
            {"period": t.period, "threshold": t.threshold, "spent_nano": t.spent_nano,
             "limit_nano": t.limit_nano},
        )

    def _emit_event(self, kind: str, subject: str, detail: dict) -> None:
        for fn in self._event_listeners:
            try:
                fn(kind, subject, detail)
            except Exception:  # a listener must never break routing
                log.exception("event listener failed")

    def on_record(self, fn: Callable[[RequestRecord], None]) -> None:
        """Call `fn` with every finished record (recorder, trace sink, live tail)."""
        self._listeners.append(fn)

    def on_event(self, fn: Callable[[str, str, dict], None]) -> None:
        """Call `fn(kind, subject, detail)` for breaker transitions and budget thresholds."""
        self._event_listeners.append(fn)

    def off_record(self, fn: Callable[[RequestRecord], None]) -> None:
        """Stop calling `fn` (no-op if it was not listening)."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def off_event(self, fn: Callable[[str, str, dict], None]) -> None:
        if fn in self._event_listeners:
            self._event_listeners.remove(fn)

    async def aclose(self) -> None:
        for p in self.providers.values():
            await p.aclose()
        if self._own_client and self.http_client is not None:
            await self.http_client.aclose()

    # ------------------------------------------------------------------ operator controls

    def apply_control(self, snapshot) -> None:
        """Apply the control plane's state (a store ControlSnapshot): drains and flags. The
        only way operator state reaches an engine: drains, kills and rollouts are written to
        the store (engine/control.py, flags/ops.py) and arrive here, so a poll never undoes
        them."""
        from axtui.engine.control import drains

        self._set_flags(FlagSet.from_snapshot(snapshot, self.config, self._capabilities,
                                              self.flag_overrides, now=self.clock.now()))

        drained = drains(snapshot)
        changed = False
        for dep_id, st in self.deployments.items():
            entry = drained.get(dep_id)
            reason = (entry.get("reason") or "drained") if entry is not None else None
            if st.drained != reason:
                st.drained = reason
                changed = True
        if changed:
            self._invalidate()

    def _invalidate(self) -> None:
        for route in self.routes.values():
            route.invalidate()

    def _set_flags(self, flags: FlagSet) -> None:
        for problem in flags.problems:
            if problem not in self.flags.problems:  # say each once, not at every change
                log.warning("%s", problem)
        self.flags = flags

    def _choose(
        self, route: RouteState, plan: _Plan
    ) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
        """order(), with the flags that touch this route applied to this request."""
        flags = self.flags
        if not flags.by_route:
            return order(route, plan.needs, self.rng)
        try:
            ctx = plan.ctx
            fx = flags.effects(route.name, plan.needs.caps, ctx.user or plan.request.user,
                               ctx.key_id, plan.record_id)
        except Exception:  # a flag must never stop a request: route as if it were off
            self.flag_counts["errors"] += 1
            log.exception("flag evaluation failed on route %s", route.name)
            fx = None
        if fx is None:
            return order(route, plan.needs, self.rng)
        plan.flags.update(fx.variants)
        if fx.per_request:
            self.flag_counts["per_request"] += 1
        needs = replace(plan.needs, grants=fx.grants) if fx.grants else plan.needs
        target = fx.only or fx.prefer
        steer = None
        if target is not None and target in self.deployments:
            steer = Steer(self.deployments[target], fx.only is not None, f"flag {fx.by}")
        ordered, skipped = order(route, needs, self.rng, steer)
        if steer is not None and ordered and ordered[0] is steer.deployment:
            plan.reason = f"{plan.reason or route.cfg.strategy}; flag {fx.by} → {target}"
        return ordered, skipped

    def reject(
        self,
        request: ChatRequest,
        ctx: RequestContext,
        kind: ErrorKind,
        message: str,
        *,
        retry_after_s: float | None = None,
        reason: str = "",
    ) -> RoutingError:
        """Refuse a request for a reason decided outside the engine (e.g. a gateway key's
        limits). The record goes to every listener like the engine's own refusals."""
        plan = self._plan(request, ctx)
        if reason:
            plan.reason = reason
        return self._fail(plan, kind, message, retry_after_s)

    # ------------------------------------------------------------------ planning

    def _plan(self, request: ChatRequest, ctx: RequestContext) -> _Plan:
        clock = self.clock
        now, t0 = clock.now(), clock.monotonic()
        est_in, has_images, text = estimate_prompt(request)
        rf = request.response_format
        if request.stream or request.tools or rf or has_images:
            caps = set()
            if request.stream:
                caps.add("streaming")
            if request.tools:
                caps.add("tools")
            if rf and rf.get("type") in ("json_object", "json_schema"):
                caps.add("json")
            if has_images:
                caps.add("vision")
            needed = frozenset(caps)
        else:
            needed = _NO_CAPS
        level = complexity(est_in, request, text)
        needs = Needs(needed, est_in, request.max_tokens or DEFAULT_MAX_TOKENS_ESTIMATE, level)
        requested = request.model
        route, reason = requested, ""
        if self.config.rules:
            route, reason = resolve_route(
                self.config.rules, requested, user=ctx.user or request.user,
                tags=ctx.tags or request.tags, headers=ctx.headers, level=level)
        content_hash = blake2b(orjson.dumps(request.messages), digest_size=12).hexdigest()
        return _Plan(
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

    # ------------------------------------------------------------------ non-streaming

    async def complete(
        self, request: ChatRequest, ctx: RequestContext | None = None
    ) -> EngineResult:
        """Route one request. Returns the answer and its record; raises RoutingError with the
        record when it cannot be served. Either way the record is emitted exactly once."""
        plan = self._plan(request, ctx or RequestContext())
        self.in_flight += 1
        try:
            rejection = self._admit(plan)
            if rejection is not None:
                raise self._fail(plan, *rejection)
            st, resp = await self._walk(plan, self._call)
            return EngineResult(resp, self._finish(plan, Outcome.ok, st, resp.usage, None,
                                                   None, None))
        except asyncio.CancelledError:
            self._finish(plan, Outcome.cancelled, None, None, ErrorKind.cancelled,
                         "the caller went away", None)
            raise
        finally:
            self.in_flight -= 1

    def _admit(self, plan: _Plan) -> tuple[ErrorKind, str, float | None] | None:
        """Why the request is refused before any attempt, or None."""
        if plan.route not in self.routes:
            known = ", ".join(sorted(self.routes))
            return ErrorKind.no_route, f"unknown model {plan.requested!r}; routes: {known}", None
        user, key = plan.ctx.user or plan.request.user, plan.ctx.key_id
        if self.quotas.enabled:
            q = self.quotas.check(user, key, plan.needs.prompt_tokens + plan.needs.max_tokens)
            if not q.ok:
                return ErrorKind.quota, q.reason, q.retry_after_s
        if self.budgets:
            b = self.budgets.check(plan.route, user, key)
            if not b.ok:
                return ErrorKind.budget, b.reason, b.retry_after_s
        return None

    async def _walk(
        self, plan: _Plan, attempt: Callable[[DeploymentState, float, _Plan], Awaitable[T]]
    ) -> tuple[DeploymentState, T]:
        """The failover loop, for plain calls and stream starts alike: routes in order, the
        chosen deployments of each, `attempt(deployment, seconds left, plan)` until one
        succeeds.
        `attempt` records its own failure and raises ProviderError; this decides what next
        (another deployment, the same one after backoff, the context fallback, give up)."""
        first = self.routes[plan.route]
        deadline = plan.t0 + first.cfg.deadline_s
        last_err: ProviderError | None = None
        # a route with nowhere to fall back to is the common case: no generator for it
        sequence = (first,) if first.alone else self._route_sequence(plan)
        tokens = plan.needs.prompt_tokens + plan.needs.max_tokens
        for route in sequence:
            plan.routes_tried.append(route.name)
            plan.route = route.name
            # The static order; breakers and headroom are looked at as the walk reaches
            # each deployment (most requests need only the first).
            queue, skipped = self._choose(route, plan)
            skipped = _skip_unusable(queue, tokens, skipped)
            if not queue:
                last_err = last_err or _no_candidates(route, skipped)
                continue
            plan.reason = plan.reason or route.cfg.strategy
            tries = 0
            max_attempts = route.cfg.max_attempts
            while queue and tries < max_attempts:
                st = queue.pop(0)
                if not st.breaker.allow():  # e.g. a half-open breaker's trials are all out
                    skipped = _skip_unusable(
                        queue, tokens, [*skipped, (st.spec.id, f"breaker {st.breaker.state}")])
                    continue
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    st.breaker.release()
                    raise self._fail(plan, ErrorKind.deadline,
                                     self._attempts_summary(plan, "deadline passed"), None)
                tries += 1
                try:
                    return st, await attempt(st, remaining, plan)
                except ProviderError as e:
                    last_err = e
                    step = decide(e.kind)
                    if step is Next.give_up:
                        raise self._fail_from(plan, e) from None
                    if step is Next.context_fallback:
                        break  # on to the next route (the context fallback comes first)
                    skipped = _skip_unusable(queue, tokens, skipped)
                    if not queue and tries < max_attempts and may_retry_same(
                            e.kind, e.retryable):
                        queue.append(st)
                    if queue and tries < max_attempts:
                        nxt = queue[0]
                        wait = backoff_s(
                            tries, e.retry_after_s,
                            other_healthy=nxt is not st and nxt.breaker.state == "closed",
                            rng=self.rng,
                        )
                        if wait is None or self.clock.monotonic() + wait >= deadline:
                            queue.clear()
                        elif wait > 0:
                            plan.attempts[-1].backoff_ms = wait * 1000.0
                            await self.clock.sleep(wait)
                            skipped = _skip_unusable(queue, tokens, skipped)
            if tries == 0:  # every deployment refused at the last moment
                last_err = last_err or _no_candidates(route, skipped)
        raise self._fail_from(plan, last_err or ProviderError(
            ErrorKind.no_candidates, "no deployment could be tried"))

    def _route_sequence(self, plan: _Plan):
        """The route first, then (on context_length) its context fallback, then its fallbacks."""
        seen = set()
        first = self.routes[plan.route]
        pending = [first]
        while pending:
            route = pending.pop(0)
            if route.name in seen:
                continue
            seen.add(route.name)
            yield route
            last = plan.attempts[-1] if plan.attempts else None
            if last is not None and last.error_kind is ErrorKind.context_length:
                if route.cfg.context_fallback:
                    pending.insert(0, self.routes[route.cfg.context_fallback])
                    continue
                return
            if last is not None and last.error_kind is None:
                return
            pending.extend(self.routes[f] for f in route.cfg.fallbacks)

    async def _call(self, st: DeploymentState, remaining: float, plan: _Plan) -> ChatResponse:
        req = plan.request
        spec = st.spec
        clock = self.clock
        budget_tokens = plan.needs.prompt_tokens + plan.needs.max_tokens
        st.headroom.consume(budget_tokens)
        health = st.health
        health.begin()
        started, t = clock.now(), clock.monotonic()
        provider = st.provider
        try:
            if provider.honours_deadline:  # it bounds itself: no second timer per attempt
                token = REQUEST_DEADLINE.set(t + remaining)
                try:
                    resp = await provider.complete(req, spec.model)
                finally:
                    REQUEST_DEADLINE.reset(token)
            else:
                async with asyncio.timeout(min(remaining, provider.timeouts.total)):
                    resp = await provider.complete(req, spec.model)
        except ProviderError as e:
            self._attempt_failed(st, plan, e, started, t)
            raise
        except TimeoutError:
            e = ProviderError(ErrorKind.timeout, "no answer within the deadline")
            self._attempt_failed(st, plan, e, started, t)
            raise e from None
        except asyncio.CancelledError:  # the caller left mid-call: the attempt is recorded
            st.health.end()
            st.breaker.release()
            plan.attempts.append(Attempt(
                deployment=spec.id, started_at=started,
                latency_ms=(self.clock.monotonic() - t) * 1000.0,
                error_kind=ErrorKind.cancelled, error="the caller went away",
            ))
            raise
        latency = (clock.monotonic() - t) * 1000.0
        health.end()
        health.record_success(latency)
        st.breaker.on_success()
        usage = resp.usage
        if resp.ratelimit is not None:
            st.headroom.learn(resp.ratelimit)
        st.headroom.adjust(usage.prompt_tokens + usage.completion_tokens - budget_tokens)
        plan.attempts.append(trusted(Attempt, {
            "deployment": spec.id,
            "started_at": started,
            "latency_ms": latency,
            "ttft_ms": None,
            "status": resp.status,
            "error_kind": None,
            "error": None,
            "retry_after_s": None,
            "usage": usage,
            "cost_nano": spec.cost_nano(usage.prompt_tokens, usage.completion_tokens,
                                        usage.cached_prompt_tokens),
            "backoff_ms": 0.0,
        }))
        return resp

    def _attempt_failed(
        self, st: DeploymentState, plan: _Plan, e: ProviderError, started: float, t: float
    ) -> None:
        latency = (self.clock.monotonic() - t) * 1000.0
        st.health.end()
        st.health.record_failure(e.kind, latency)
        if e.kind is ErrorKind.rate_limited:
            retry = e.retry_after_s
            if retry is None and e.ratelimit is not None:
                retry = e.ratelimit.retry_after_s
            st.breaker.on_rate_limited(retry)
            st.headroom.cooldown(retry)
        else:
            st.breaker.on_failure(e.kind)
        if e.ratelimit is not None:
            st.headroom.learn(e.ratelimit)
        plan.attempts.append(Attempt(
            deployment=st.spec.id, started_at=started, latency_ms=latency, status=e.status,
            error_kind=e.kind, error=e.message, retry_after_s=e.retry_after_s,
        ))

    # ------------------------------------------------------------------ streaming

    def stream(self, request: ChatRequest, ctx: RequestContext | None = None) -> EngineStream:
        """A streaming request. `await s.start()` routes it (failing over until a first chunk
        arrives) and raises RoutingError if nothing could; then `async for chunk in s`."""
        from axtui.engine.stream import EngineStream

        return EngineStream(self, request, ctx or RequestContext())

    # ------------------------------------------------------------------ records

    def _succeed(
        self, plan: _Plan, st: DeploymentState, usage: Usage, ttft_ms: float | None
    ) -> RequestRecord:
        return self._finish(plan, Outcome.ok, st, usage, None, None, ttft_ms)

    def _fail_from(self, plan: _Plan, e: ProviderError) -> RoutingError:
        kind = e.kind
        kinds = {a.error_kind for a in plan.attempts}
        retry = None
        if kinds == {ErrorKind.rate_limited}:
            kind = ErrorKind.rate_limited
            waits = [a.retry_after_s for a in plan.attempts if a.retry_after_s is not None]
            retry = min(waits) if waits else None
        msg = e.message if not plan.attempts else self._attempts_summary(plan, "")
        return self._fail(plan, kind, msg, retry)

    def _attempts_summary(self, plan: _Plan, prefix: str) -> str:
        n = len(plan.attempts)
        parts = []
        for a in plan.attempts:
            status = f" {a.status}" if a.status else ""
            parts.append(f"{a.deployment}: {a.error_kind}{status} {a.error or ''}".rstrip())
        head = prefix or f"all {n} attempt{'s' if n != 1 else ''} failed"
        return f"{head}: " + "; ".join(parts) if parts else head

    def _fail(
        self, plan: _Plan, kind: ErrorKind, message: str, retry_after_s: float | None
    ) -> RoutingError:
        outcome = Outcome.failed if plan.attempts else Outcome.rejected
        record = self._finish(plan, outcome, None, None, kind, message, None)
        return RoutingError(record, retry_after_s)

    def _finish(
        self,
        plan: _Plan,
        outcome: Outcome,
        st: DeploymentState | None,
        usage: Usage | None,
        kind: ErrorKind | None,
        error: str | None,
        ttft_ms: float | None,
    ) -> RequestRecord:
        attempts = plan.attempts
        cost = attempts[0].cost_nano if len(attempts) == 1 else sum(
            a.cost_nano for a in attempts)
        optimal = None
        if usage is not None:
            optimal = self._optimal_cost(plan, usage)
        route_cfg = self.config.routes.get(plan.route)
        reason = plan.reason
        if len(plan.routes_tried) > 1:
            reason = f"{reason}; via {' → '.join(plan.routes_tried)}".lstrip("; ")
        if len(attempts) > 1 and outcome is Outcome.ok:
            reason = f"{reason}; failover after {len(attempts) - 1}".lstrip("; ")
        request, ctx, needs = plan.request, plan.ctx, plan.needs
        status = 200 if kind is None else status_for(kind)
        if kind is ErrorKind.cancelled and self.stopping:
            status, error = 503, "the gateway shut down before the request finished"
        # Every field, in declaration order, each of its type: see records.trusted.
        record = trusted(RequestRecord, {
            "id": plan.record_id,
            "started_at": plan.started_at,
            "ended_at": self.clock.now(),
            "route": plan.route,
            "requested_route": plan.requested,
            "user": ctx.user or request.user,
            "key_id": ctx.key_id,
            "tags": list(ctx.tags or request.tags),
            "stream": request.stream,
            "est_prompt_tokens": needs.prompt_tokens,
            "max_tokens": request.max_tokens,
            "required_caps": sorted(needs.caps),
            "complexity": needs.complexity,
            "content_hash": plan.content_hash,
            "messages": (list(request.messages) if route_cfg and route_cfg.capture_content
                         else None),
            "attempts": list(attempts),
            "outcome": outcome,
            "error_kind": kind,
            "error": error,
            "status": status,
            "deployment": st.spec.id if st is not None else None,
            "usage": usage,
            "latency_ms": (self.clock.monotonic() - plan.t0) * 1000.0,
            "ttft_ms": ttft_ms,
            "cost_nano": cost,
            "optimal_cost_nano": optimal,
            "reason": reason,
            "flags": dict(plan.flags),
        })
        user = record.user
        if cost:
            self.budgets.record(plan.route, user, plan.ctx.key_id, cost)
        if self.quotas.enabled and outcome is not Outcome.rejected:
            self.quotas.record(user, plan.ctx.key_id, usage.total_tokens if usage else 0, cost)
        for fn in self._listeners:
            try:
                fn(record)
            except Exception:  # the recorder counts its own drops; a listener must not kill us
                log.exception("record listener failed")
        return record

    def _optimal_cost(self, plan: _Plan, usage: Usage) -> int | None:
        """What the cheapest deployment of the route able to serve this request would have
        charged for the same tokens."""
        route = self.routes.get(plan.route)
        if route is None:
            return None
        needs = plan.needs
        window = needs.prompt_tokens + needs.max_tokens
        key = ("capable", needs.caps, bisect_left(route.windows, window))
        specs = route.cache.get(key)
        if specs is None:  # the same for every request of this kind: cached beside eligible()
            by_price = {}  # one deployment per distinct price: the same model on several
            for st in route.deployments:  # providers is priced alike
                spec = st.spec
                if needs.caps <= spec.capabilities and window <= spec.context_window:
                    by_price.setdefault((spec.price_in, spec.price_out, spec.price_cached), spec)
            specs = route.cache[key] = list(by_price.values())
        if not specs:
            return None
        pt, ct, cached = usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens
        best = specs[0].cost_nano(pt, ct, cached)
        for spec in specs[1:]:
            c = spec.cost_nano(pt, ct, cached)
            if c < best:
                best = c
        return best


def _skip_unusable(
    queue: list[DeploymentState], tokens: int, skipped: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Drop from the front of `queue` the deployments that cannot take a call now (open
    breaker, no headroom), adding why to `skipped` (copied first: it may be a cached list).
    Afterwards `queue[0]`, if any, is usable."""
    while queue:
        why = dynamic_skip(queue[0], tokens)
        if why is None:
            break
        skipped = [*skipped, (queue.pop(0).spec.id, why)]
    return skipped


def _no_candidates(route: RouteState, skipped: list[tuple[str, str]]) -> ProviderError:
    why = "; ".join(f"{d} {reason}" for d, reason in skipped) or "no candidates"
    return ProviderError(ErrorKind.no_candidates,
                         f"no usable deployment in route {route.name}: {why}")


def _as_provider_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderError(ErrorKind.timeout, "no first chunk within the deadline")
    return ProviderError(ErrorKind.malformed, "stream ended before any chunk")


async def _aclose(it: AsyncIterator[ChatChunk] | None) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        try:
            await close()
        except ProviderError as e:  # closing a failed upstream may re-raise its error
            log.debug("upstream close: %s", e)
