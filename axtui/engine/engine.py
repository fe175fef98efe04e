"""The request pipeline: one chat request in, one answer (or one clear error) out, and
exactly one RequestRecord for it.

    plan (rules) → admit (quotas, budget) → walk (order, attempts, failover) → outcome

Each step is its own module: plan.py, walk.py (with failover.py's policy), attempt.py
(one attempt's bookkeeping, shared by plain calls and streams), outcome.py (the record).
This one holds the engine's state and the operator's controls. The engine knows no HTTP
server and no UI.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from axtui.cache import ResponseCache
from axtui.clock import Clock, RealClock
from axtui.config import Config
from axtui.engine import attempt
from axtui.engine.budget import Budgets, ThresholdCrossed
from axtui.engine.catalog import Catalog, DeploymentSpec
from axtui.engine.health import CircuitBreaker, DeploymentHealth
from axtui.engine.limits import CallerQuotas, Headroom
from axtui.engine.outcome import EngineResult, Outcomes, RoutingError
from axtui.engine.plan import Plan, Planner, RequestContext, choose
from axtui.engine.select import DeploymentState, RouteState, order, readiness
from axtui.engine.walk import Failover
from axtui.flags.evaluate import FlagSet
from axtui.flags.model import EnvOverrides
from axtui.providers import build_provider
from axtui.providers.base import ChatRequest, Provider
from axtui.records import ErrorKind, Outcome, RequestRecord

if TYPE_CHECKING:
    from axtui.engine.stream import EngineStream
    from axtui.engine.transcribe import Transcriptions

__all__ = ["Engine", "EngineResult", "RequestContext", "RoutingError"]

log = logging.getLogger(__name__)


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
        self.injected_providers = providers is not None  # a reload builds none then
        self.retired_providers: list[Provider] = []  # replaced by a reload; closed at aclose
        self._control_snapshot = None  # the last applied, re-applied after a reload
        if providers is None:
            needs_http = any(p.protocol != "sim" for p in config.providers.values())
            if needs_http and http_client is None:
                from axtui.providers.transport import make_http_client

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
        self.quotas = CallerQuotas.from_config(self.clock, config.quotas)
        self.budgets = Budgets(self.clock, config.budgets, self._on_budget_threshold)
        self._event_listeners: list[Callable[[str, str, dict], None]] = []
        self.planner = Planner(config)
        self.outcomes = Outcomes(config, self.clock, self.routes, self.budgets, self.quotas)
        self.failover = Failover(self.routes, self.clock, self.rng, self._choose, self.outcomes,
                                 config.routing)
        self.in_flight = 0
        # the response cache (axtui/cache): None when no route caches
        self.cache = ResponseCache.from_config(config, self.clock)
        if self.cache is not None:
            self.on_record(self.cache.on_record)
        self._transcriptions: Transcriptions | None = None
        # flags: this process's env overrides are read once; the set is rebuilt on change
        self.flag_overrides = EnvOverrides.read()
        self._capabilities = {spec.id: spec.capabilities for spec in self.catalog}
        self.flags = FlagSet.empty()
        self.flag_counts = {"per_request": 0, "errors": 0}  # bucketed by request id; failures
        self._set_flags(FlagSet.from_snapshot(None, config, self._capabilities,
                                              self.flag_overrides, now=self.clock.now()))

    # ------------------------------------------------------------------ set-up

    def _state_for(self, spec: DeploymentSpec, *, config: Config | None = None,
                   providers: dict[str, Provider] | None = None) -> DeploymentState:
        config = config or self.config
        pcfg = config.providers[spec.provider]
        dcfg = config.deployment(spec.id)
        free = pcfg.free_tier
        headroom = Headroom(
            self.clock,
            rpm=dcfg.rpm or pcfg.rpm or (free.rpm if free else None),
            tpm=dcfg.tpm or pcfg.tpm or (free.tpm if free else None),
            rpd=free.rpd if free else None,
            tpd=free.tpd if free else None,
            learned_s=config.routing.learned_limit_s,
        )
        breaker = CircuitBreaker(self.clock, config.breaker, deployment=spec.id,
                                 on_transition=self._on_breaker_transition)
        provider = (providers or self.providers)[spec.provider]
        if spec.max_output_tokens is not None:  # Anthropic's default max_tokens
            provider.output_limits[spec.model] = (spec.max_output_tokens, spec.context_window)
        return DeploymentState(
            spec=spec,
            provider=provider,
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
        self.outcomes.listeners.append(fn)

    def on_event(self, fn: Callable[[str, str, dict], None]) -> None:
        """Call `fn(kind, subject, detail)` for breaker transitions and budget thresholds."""
        self._event_listeners.append(fn)

    def off_record(self, fn: Callable[[RequestRecord], None]) -> None:
        """Stop calling `fn` (no-op if it was not listening)."""
        if fn in self.outcomes.listeners:
            self.outcomes.listeners.remove(fn)

    def off_event(self, fn: Callable[[str, str, dict], None]) -> None:
        if fn in self._event_listeners:
            self._event_listeners.remove(fn)

    def reload(self, config: Config) -> None:
        """Route new requests by `config` from now on (engine/reload.py): built aside, swapped
        in one step; requests in flight finish on the config they began with."""
        from axtui.engine.reload import swap

        swap(self, config)

    def reapply_control(self) -> None:
        """Apply the last control snapshot again (a reload's new deployments and flags)."""
        if self._control_snapshot is not None:
            self.apply_control(self._control_snapshot)
            return
        self._set_flags(FlagSet.from_snapshot(None, self.config, self._capabilities,
                                              self.flag_overrides, now=self.clock.now()))

    async def aclose(self) -> None:
        for p in [*self.providers.values(), *self.retired_providers]:
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

        self._control_snapshot = snapshot
        self._set_flags(FlagSet.from_snapshot(snapshot, self.config, self._capabilities,
                                              self.flag_overrides, now=self.clock.now()))

        if self.cache is not None:  # `axtui cache clear`
            self.cache.apply_control(snapshot)
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

    @property
    def stopping(self) -> bool:
        """Set by the server as it cancels what is still in flight at shutdown: such a
        cancel is the server's (recorded 503, what the client is told), not a caller
        leaving (499)."""
        return self.outcomes.stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self.outcomes.stopping = value

    def route_readiness(self) -> dict[str, str | None]:
        """Per route: why it can serve nothing right now (every deployment drained,
        breaker open, or cooling down after a 429 for longer than a request would wait),
        or None when it can serve."""
        wait = self.failover.max_wait
        return {name: readiness(route, wait(route)) for name, route in self.routes.items()}

    def _invalidate(self) -> None:
        for route in self.routes.values():
            route.invalidate()

    def _set_flags(self, flags: FlagSet) -> None:
        for problem in flags.problems:
            if problem not in self.flags.problems:  # say each once, not at every change
                log.warning("%s", problem)
        self.flags = flags

    def _choose(
        self, route: RouteState, plan: Plan
    ) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
        flags = self.flags
        if not flags.by_route:  # the common case, without a call more
            return order(route, plan.needs, self.rng)
        return choose(route, plan, flags, self.deployments, self.rng, self.flag_counts)

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
        return self.outcomes.fail(plan, kind, message, retry_after_s)

    # ------------------------------------------------------------------ requests

    def _plan(self, request: ChatRequest, ctx: RequestContext) -> Plan:
        return self.planner.plan(request, ctx, self.clock.now(), self.clock.monotonic())

    def begin(self, request: ChatRequest, ctx: RequestContext) -> Plan:
        """Plan and admit a request, counting it in flight until `end()`; a refusal raises
        RoutingError with its record already emitted (and nothing to end)."""
        clock = self.clock
        plan = self.planner.plan(request, ctx, clock.now(), clock.monotonic())
        refusal = self._admit(plan)
        if refusal is not None:
            raise self.outcomes.fail(plan, *refusal)
        self.in_flight += 1
        return plan

    def end(self) -> None:
        """A request `begin()` admitted has its record."""
        self.in_flight -= 1

    def _admit(self, plan: Plan) -> tuple[ErrorKind, str, float | None] | None:
        """Why the request is refused before any attempt, or None."""
        if plan.route not in self.routes:
            known = ", ".join(sorted(self.routes))
            return ErrorKind.no_route, f"unknown model {plan.requested!r}; routes: {known}", None
        user, key = plan.ctx.user or plan.request.user, plan.ctx.key_id
        if self.quotas.enabled:
            q = self.quotas.check(user, key, plan.needs.prompt_tokens + plan.needs.max_tokens,
                                  ip=plan.ctx.ip, route=plan.route)
            if not q.ok:
                return ErrorKind.quota, q.reason, q.retry_after_s
        if self.budgets:
            b = self.budgets.check(plan.route, user, key)
            if not b.ok:
                return ErrorKind.budget, b.reason, b.retry_after_s
        return None

    async def complete(
        self, request: ChatRequest, ctx: RequestContext | None = None
    ) -> EngineResult:
        """Route one request. Returns the answer and its record; raises RoutingError with the
        record when it cannot be served. Either way the record is emitted exactly once."""
        plan = self.begin(request, ctx or RequestContext())
        outcomes, failover = self.outcomes, self.failover  # a reload meanwhile: not ours
        try:
            cache = self.cache
            if cache is not None and (hit := await cache.lookup(plan)) is not None:
                return EngineResult(hit, outcomes.finish(plan, Outcome.ok, None, hit.usage,
                                                         None, None, None))
            st, resp = await failover.run(plan, attempt.call)
            result = EngineResult(resp, outcomes.finish(plan, Outcome.ok, st, resp.usage,
                                                        None, None, None))
            if cache is not None and plan.cache is not None:
                await cache.store(plan, resp)
            return result
        except asyncio.CancelledError:
            outcomes.cancelled(plan)
            raise
        finally:
            self.in_flight -= 1

    @property
    def transcriptions(self) -> Transcriptions:
        """Transcription requests (engine/transcribe.py): `await .run(request, ctx)`, on
        these same routes, deployments and records."""
        if self._transcriptions is None:
            from axtui.engine.transcribe import Transcriptions

            self._transcriptions = Transcriptions(self)
        return self._transcriptions

    def stream(self, request: ChatRequest, ctx: RequestContext | None = None) -> EngineStream:
        """A streaming request. `await s.start()` routes it (failing over until a first chunk
        arrives) and raises RoutingError if nothing could; then `async for chunk in s`."""
        from axtui.engine.stream import EngineStream

        return EngineStream(self, request, ctx or RequestContext())
