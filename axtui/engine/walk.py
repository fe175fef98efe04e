"""The failover walk: the only retry loop in axtui. Routes in order (the route, then its
context fallback or fallbacks), the deployments of each in the strategy's order, one
attempt at a time until one succeeds; failover.py says what follows each failure.

Predictions order, they never refuse. A deployment our estimates count out (no headroom
left, breaker open) is passed over while a better one remains, and kept in reserve. When
the order is used up, the reserve decides (`_last_resort`), best first:
- one that can take a call now (a retry of one that failed, after a backoff);
- the one our headroom estimate says is nearest to having room: it is sent anyway;
- the one whose 429 cooldown (the upstream's own word) ends soonest, if waiting for it
  fits the deadline and max_queue_wait_ms; else the caller gets a 429 with that wait;
- a panic trial through an open breaker, at most `panic_trials_per_s` per deployment.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from axtui.clock import Clock
from axtui.config import RoutingConfig
from axtui.engine.failover import (
    MAX_RATE_LIMITED_ATTEMPTS,
    Next,
    backoff_s,
    decide,
    may_retry_same,
)
from axtui.engine.outcome import Outcomes, summary
from axtui.engine.plan import Plan
from axtui.engine.select import (
    COOLING,
    PREDICTED,
    READY,
    DeploymentState,
    RouteState,
    dynamic_skip,
    misfit,
    standing,
)
from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind

T = TypeVar("T")

Attempt = Callable[[DeploymentState, float, Plan, Clock], Awaitable[T]]
_NOT_RETRIED: frozenset[str] = frozenset()  # shared, never changed: a set is made on need
Choose = Callable[[RouteState, Plan], tuple[list[DeploymentState], list[tuple[str, str]]]]


class Failover:
    def __init__(
        self,
        routes: dict[str, RouteState],
        clock: Clock,
        rng: random.Random,
        choose: Choose,
        outcomes: Outcomes,
        routing: RoutingConfig | None = None,
    ) -> None:
        self.routes, self.clock, self.rng = routes, clock, rng
        self.choose, self.outcomes = choose, outcomes
        self.max_wait_s = (routing or RoutingConfig()).max_queue_wait_ms / 1000.0

    async def run(self, plan: Plan, attempt: Attempt[T]) -> tuple[DeploymentState, T]:
        """`attempt(deployment, seconds left, plan, clock)` until one succeeds; raises
        RoutingError (its record emitted) when none does. `attempt` records its own
        failure and raises ProviderError; this decides what next."""
        clock, outcomes = self.clock, self.outcomes
        first = self.routes[plan.route]
        deadline = plan.t0 + first.cfg.deadline_s
        last_err: ProviderError | None = None  # the last attempt's failure
        walk_err: ProviderError | None = None  # why a route could try nobody
        cooling: ProviderError | None = None  # a route ended with every deployment in a 429
        misfits: list[ProviderError] = []  # routes no deployment could ever serve
        # the route's verdict the sequence follows: a misfit's kind, else the last attempt's
        verdict: list[ErrorKind | None] | None = None if first.alone else [None]
        # a route with nowhere to fall back to is the common case: no generator for it
        sequence = (first,) if first.alone else self._route_sequence(plan, verdict)
        tokens = plan.needs.prompt_tokens + plan.needs.max_tokens
        for route in sequence:
            plan.routes_tried.append(route.name)
            plan.route = route.name
            if verdict is not None:
                verdict[0] = None
            queue, skipped = self.choose(route, plan)
            if not queue:
                fit = misfit(route, plan.needs)
                if fit is not None:
                    err = ProviderError(ErrorKind(fit[0]), fit[1])
                    misfits.append(err)
                    if verdict is not None:
                        verdict[0] = err.kind
                else:
                    walk_err = walk_err or _no_candidates(route, skipped)
                continue
            plan.reason = plan.reason or route.cfg.strategy
            reserve: list[DeploymentState] = []
            retried: set[str] | frozenset[str] = _NOT_RETRIED  # failed here, not a 429
            failures = limited = 0  # 429s are bounded apart: each honours its cooldown
            max_attempts = route.cfg.max_attempts
            while failures < max_attempts and limited < MAX_RATE_LIMITED_ATTEMPTS:
                if queue:
                    st = queue.pop(0)
                    if dynamic_skip(st, tokens) is not None or not st.breaker.allow():
                        reserve.append(st)  # counted out by prediction: kept in reserve
                        continue
                else:
                    got = await self._last_resort(plan, route, reserve, retried, tokens,
                                                  deadline, failures)
                    if isinstance(got, ProviderError):
                        if got.kind is ErrorKind.rate_limited:
                            cooling = got
                        else:
                            walk_err = walk_err or got
                        break
                    st = got
                remaining = deadline - clock.monotonic()
                if remaining <= 0:
                    st.breaker.release()
                    raise outcomes.fail(plan, ErrorKind.deadline,
                                        summary(plan, "deadline passed"), None)
                try:
                    return st, await attempt(st, remaining, plan, clock)
                except ProviderError as e:
                    last_err = e
                    step = decide(e.kind)
                    if step is Next.give_up:
                        raise outcomes.fail_from(plan, e) from None
                    if step is Next.context_fallback:
                        break  # on to the next route (the context fallback comes first)
                    if e.kind is ErrorKind.rate_limited:
                        limited += 1
                    else:
                        failures += 1
                    if may_retry_same(e.kind, e.retryable):
                        reserve.append(st)
                        if e.kind is not ErrorKind.rate_limited:
                            if retried is _NOT_RETRIED:
                                retried = set()
                            retried.add(st.spec.id)
        if cooling is not None:  # waiting would help: a 429 with the soonest retry-after
            msg = summary(plan, cooling.message) if plan.attempts else cooling.message
            raise outcomes.fail(plan, ErrorKind.rate_limited, msg, cooling.retry_after_s)
        if last_err is not None:
            raise outcomes.fail_from(plan, last_err)
        if misfits and (walk_err is None or len(misfits) == len(plan.routes_tried)):
            raise outcomes.fail_from(plan, misfits[0])  # nothing could ever serve it: a 400
        raise outcomes.fail_from(plan, walk_err or ProviderError(
            ErrorKind.no_candidates, "no deployment could be tried"))

    def max_wait(self, route: RouteState) -> float:
        """Seconds a request of `route` may wait for a cooldown to end."""
        ms = route.cfg.max_queue_wait_ms
        return self.max_wait_s if ms is None else ms / 1000.0

    async def _last_resort(
        self,
        plan: Plan,
        route: RouteState,
        reserve: list[DeploymentState],
        retried: set[str] | frozenset[str],
        tokens: int,
        deadline: float,
        failures: int,
    ) -> DeploymentState | ProviderError:
        """The deployment to try next once the order is used up (see the module's
        docstring), after any wait; or why there is none."""
        clock = self.clock
        max_wait = self.max_wait(route)
        soonest: float | None = None  # of the cooldowns too long to wait for
        while reserve:
            ranked = sorted(((standing(st, tokens), i, st) for i, st in enumerate(reserve)),
                            key=lambda r: (r[0], r[1]))
            waited = False
            for (kind, wait), _, st in ranked:
                now = clock.monotonic()
                if kind in (READY, PREDICTED):
                    if st.spec.id in retried:
                        pause = backoff_s(failures, None, other_healthy=False, rng=self.rng)
                        if pause is None or now + pause >= deadline:
                            continue
                        _note_wait(plan, pause)
                        await clock.sleep(pause)
                        retried.discard(st.spec.id)
                        waited = True
                        break
                    if not st.breaker.allow():
                        continue
                    if kind == PREDICTED:
                        _note(plan, f"sent to {st.spec.id} past its predicted limit")
                elif kind == COOLING:
                    if wait > max_wait or now + wait >= deadline:
                        soonest = wait if soonest is None else min(soonest, wait)
                        continue
                    _note_wait(plan, wait)
                    await clock.sleep(wait)
                    waited = True
                    break
                elif not st.breaker.allow_panic():  # OPEN
                    continue
                else:
                    _note(plan, f"panic trial to {st.spec.id}")
                reserve.remove(st)
                return st
            if not waited:
                break
        if soonest is not None:
            return ProviderError(
                ErrorKind.rate_limited,
                f"every deployment of route {plan.route} is rate limited by its upstream; "
                f"the soonest is free in {soonest:.1f}s", retry_after_s=soonest)
        return _no_candidates(route, [(st.spec.id, dynamic_skip(st, tokens) or "failed")
                                      for st in reserve] or [])

    def _route_sequence(self, plan: Plan, verdict: list[ErrorKind | None]
                        ) -> Iterator[RouteState]:
        """The route first, then (on context_length) its context fallback, then its
        fallbacks. `verdict[0]` is the route's misfit kind when no deployment fitted."""
        seen = set()
        pending = [self.routes[plan.route]]
        while pending:
            route = pending.pop(0)
            if route.name in seen:
                continue
            seen.add(route.name)
            yield route
            last = verdict[0]
            if last is None and plan.attempts:
                last = plan.attempts[-1].error_kind
                if last is None:
                    return  # served
            if last is ErrorKind.context_length:
                if route.cfg.context_fallback:
                    pending.insert(0, self.routes[route.cfg.context_fallback])
                    continue
                return
            pending.extend(self.routes[f] for f in route.cfg.fallbacks)


def _note(plan: Plan, what: str) -> None:
    plan.reason = f"{plan.reason}; {what}" if plan.reason else what


def _note_wait(plan: Plan, seconds: float) -> None:
    """A wait before the next attempt: on the last attempt's record, or in the reason."""
    if plan.attempts:
        plan.attempts[-1].backoff_ms += seconds * 1000.0
    else:
        _note(plan, f"waited {seconds:.2f}s for a cooldown")


def _no_candidates(route: RouteState, skipped: list[tuple[str, str]]) -> ProviderError:
    why = "; ".join(f"{d} {reason}" for d, reason in skipped) or "no candidates"
    return ProviderError(ErrorKind.no_candidates,
                         f"no usable deployment in route {route.name}: {why}")
