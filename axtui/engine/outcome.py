"""Outcome: how a request ends. Exactly one RequestRecord per request, built here and
handed to every record listener; budgets and quotas count what it spent."""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from axtui.clock import Clock
from axtui.config import Config
from axtui.engine.budget import Budgets
from axtui.engine.failover import status_for
from axtui.engine.limits import CallerQuotas
from axtui.engine.plan import Plan
from axtui.engine.select import DeploymentState, RouteState
from axtui.providers.base import ChatResponse
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind, Outcome, RequestRecord, Usage, trusted

log = logging.getLogger(__name__)


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


# Failures that leave no upstream answer to pass on. A request whose attempts all ended so
# is refused 503 (as Envoy answers an upstream reset before headers), never 502.
UNAVAILABLE = frozenset({ErrorKind.server, ErrorKind.overloaded, ErrorKind.connect,
                         ErrorKind.malformed})


class Outcomes:
    """Builds each request's record and tells the listeners."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        routes: dict[str, RouteState],
        budgets: Budgets,
        quotas: CallerQuotas,
    ) -> None:
        self.config, self.clock, self.routes = config, clock, routes
        self.budgets, self.quotas = budgets, quotas
        self.listeners: list[Callable[[RequestRecord], None]] = []
        self.stopping = False  # see Engine.stopping

    def succeed(
        self, plan: Plan, st: DeploymentState, usage: Usage, ttft_ms: float | None = None
    ) -> RequestRecord:
        return self.finish(plan, Outcome.ok, st, usage, None, None, ttft_ms)

    def fail(
        self, plan: Plan, kind: ErrorKind, message: str, retry_after_s: float | None
    ) -> RoutingError:
        """A refusal or failure: its record is emitted, the error carries it."""
        outcome = Outcome.failed if plan.attempts else Outcome.rejected
        record = self.finish(plan, outcome, None, None, kind, message, None)
        return RoutingError(record, retry_after_s)

    def fail_from(self, plan: Plan, e: ProviderError) -> RoutingError:
        """The walk ended without an answer; `e` is its last failure. When every attempt
        was rate limited the caller is told so, with the shortest retry-after."""
        kind = e.kind
        kinds = {a.error_kind for a in plan.attempts}
        retry = None
        if kinds == {ErrorKind.rate_limited}:
            kind = ErrorKind.rate_limited
            waits = [a.retry_after_s for a in plan.attempts if a.retry_after_s is not None]
            retry = min(waits) if waits else None
        msg = e.message if not plan.attempts else summary(plan, "")
        return self.fail(plan, kind, msg, retry)

    def cancelled(self, plan: Plan, st: DeploymentState | None = None,
                  usage: Usage | None = None, ttft_ms: float | None = None) -> RequestRecord:
        return self.finish(plan, Outcome.cancelled, st, usage, ErrorKind.cancelled,
                           "the caller went away", ttft_ms)

    def finish(
        self,
        plan: Plan,
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
        audio = plan.audio
        if audio is not None:
            optimal = audio.optimal_cost_nano
        elif usage is not None:
            optimal = self._optimal_cost(plan, usage)
        route_cfg = self.config.routes.get(plan.route)
        reason = plan.reason
        if len(plan.routes_tried) > 1:
            reason = f"{reason}; via {' → '.join(plan.routes_tried)}".lstrip("; ")
        if len(attempts) > 1 and outcome is Outcome.ok:
            reason = f"{reason}; failover after {len(attempts) - 1}".lstrip("; ")
        request, ctx, needs = plan.request, plan.ctx, plan.needs
        status = 200 if kind is None else status_for(kind)
        if outcome is Outcome.failed and kind in UNAVAILABLE:
            status = 503  # attempts made, no upstream answered: the service is unavailable
        if kind is ErrorKind.cancelled and self.stopping:
            status, error = 503, "the gateway shut down before the request finished"
        if ctx.statuses is not None:
            status = ctx.statuses.get(status, status)
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
            "face": ctx.face,
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
            "cache": note.hit if (note := plan.cache) is not None else None,
            "cache_similarity": note.similarity if note is not None else None,
            "kind": "chat" if audio is None else "transcription",
            "audio_s": audio.seconds if audio is not None else None,
            "region": st.spec.region if st is not None else None,
        })
        user = record.user
        if cost:
            self.budgets.record(plan.route, user, plan.ctx.key_id, cost)
        if self.quotas.enabled and outcome is not Outcome.rejected:
            self.quotas.record(user, plan.ctx.key_id, usage.total_tokens if usage else 0, cost,
                               ip=plan.ctx.ip, route=plan.route)
        for fn in self.listeners:
            try:
                fn(record)
            except Exception:  # the recorder counts its own drops; a listener must not kill us
                log.exception("record listener failed")
        return record

    def _optimal_cost(self, plan: Plan, usage: Usage) -> int | None:
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
                    by_price.setdefault((spec.price_in, spec.price_out, spec.price_cached,
                                         spec.price_cache_write), spec)
            specs = route.cache[key] = list(by_price.values())
        if not specs:
            return None
        pt, ct, cached = usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens
        written = usage.cache_write_tokens
        best = specs[0].cost_nano(pt, ct, cached, written)
        for spec in specs[1:]:
            c = spec.cost_nano(pt, ct, cached, written)
            if c < best:
                best = c
        return best


def summary(plan: Plan, prefix: str) -> str:
    """What every attempt met, for an error message: built per request."""
    n = len(plan.attempts)
    parts = []
    for a in plan.attempts:
        status = f" {a.status}" if a.status else ""
        parts.append(f"{a.deployment}: {a.error_kind}{status} {a.error or ''}".rstrip())
    head = prefix or f"all {n} attempt{'s' if n != 1 else ''} failed"
    return f"{head}: " + "; ".join(parts) if parts else head
