"""The failover walk: the only retry loop in axtui. Routes in order (the route, then its
context fallback or fallbacks), the chosen deployments of each, one attempt at a time
until one succeeds; failover.py says what follows each failure."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from axtui.clock import Clock
from axtui.engine.failover import Next, backoff_s, decide, may_retry_same
from axtui.engine.outcome import Outcomes, summary
from axtui.engine.plan import Plan
from axtui.engine.select import DeploymentState, RouteState, dynamic_skip
from axtui.providers.base import ProviderError
from axtui.records import ErrorKind

T = TypeVar("T")

Attempt = Callable[[DeploymentState, float, Plan, Clock], Awaitable[T]]
Choose = Callable[[RouteState, Plan], tuple[list[DeploymentState], list[tuple[str, str]]]]


class Failover:
    def __init__(
        self,
        routes: dict[str, RouteState],
        clock: Clock,
        rng: random.Random,
        choose: Choose,
        outcomes: Outcomes,
    ) -> None:
        self.routes, self.clock, self.rng = routes, clock, rng
        self.choose, self.outcomes = choose, outcomes

    async def run(self, plan: Plan, attempt: Attempt[T]) -> tuple[DeploymentState, T]:
        """`attempt(deployment, seconds left, plan, clock)` until one succeeds; raises
        RoutingError (its record emitted) when none does. `attempt` records its own
        failure and raises ProviderError; this decides what next (another deployment, the
        same one after backoff, the context fallback, give up)."""
        clock, outcomes = self.clock, self.outcomes
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
            queue, skipped = self.choose(route, plan)
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
                remaining = deadline - clock.monotonic()
                if remaining <= 0:
                    st.breaker.release()
                    raise outcomes.fail(plan, ErrorKind.deadline,
                                        summary(plan, "deadline passed"), None)
                tries += 1
                try:
                    return st, await attempt(st, remaining, plan, clock)
                except ProviderError as e:
                    last_err = e
                    step = decide(e.kind)
                    if step is Next.give_up:
                        raise outcomes.fail_from(plan, e) from None
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
                        if wait is None or clock.monotonic() + wait >= deadline:
                            queue.clear()
                        elif wait > 0:
                            plan.attempts[-1].backoff_ms = wait * 1000.0
                            await clock.sleep(wait)
                            skipped = _skip_unusable(queue, tokens, skipped)
            if tries == 0:  # every deployment refused at the last moment
                last_err = last_err or _no_candidates(route, skipped)
        raise outcomes.fail_from(plan, last_err or ProviderError(
            ErrorKind.no_candidates, "no deployment could be tried"))

    def _route_sequence(self, plan: Plan):
        """The route first, then (on context_length) its context fallback, then its fallbacks."""
        seen = set()
        pending = [self.routes[plan.route]]
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
