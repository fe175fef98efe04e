"""Transcription through the engine: the same plan → admit → walk → outcome as chat, with
the engine's own failover walk (walk.py), attempt bookkeeping (attempt.Pending: headroom,
health, breaker) and records (outcome.py). What differs is said here:

- the request needs the `transcription` capability, and the walk's order passes over a
  deployment that cannot take this file's format or size (a skip, with its reason);
- before the walk, a file no deployment of the route could ever take is refused (400);
- the cost is the deployment's audio price (per second of audio, or per token), and the
  record says `kind: transcription` with the audio's duration (see engine/audio.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from hashlib import blake2b
from typing import TYPE_CHECKING

from axtui.clock import Clock
from axtui.engine.attempt import Pending, judged
from axtui.engine.audio import wav_seconds
from axtui.engine.outcome import RoutingError
from axtui.engine.plan import Plan, RequestContext, region_of
from axtui.engine.rules import resolve_route
from axtui.engine.select import DeploymentState, Needs, RouteState
from axtui.engine.walk import Failover
from axtui.providers.audio import TranscriptionRequest, TranscriptionResponse
from axtui.providers.base import ChatRequest
from axtui.records import ErrorKind, Outcome, RequestRecord, Usage

if TYPE_CHECKING:
    from axtui.engine.engine import Engine
    from axtui.engine.transcribe_stream import TranscriptionStream

NEEDS = frozenset({"transcription"})
_NO_COMPLEXITY = ""  # routing rules that name a complexity are for chat: none matches


@dataclass(slots=True)
class AudioNote:
    """A transcription's part of its Plan: the request, the audio's duration (from the WAV
    header, else from the answer) and, once served, the optimal cost."""

    request: TranscriptionRequest
    seconds: float | None
    optimal_cost_nano: int | None = None


@dataclass(slots=True)
class TranscriptionResult:
    response: TranscriptionResponse
    record: RequestRecord


class Transcriptions:
    """The engine's transcription path: a Failover walk of its own over the engine's
    routes and outcomes, whose order also skips deployments the file does not fit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.failover = Failover(engine.routes, engine.clock, engine.rng, self._choose,
                                 engine.outcomes, engine.config.routing)

    def plan(self, request: TranscriptionRequest, ctx: RequestContext) -> Plan:
        eng = self.engine
        clock = eng.clock
        requested = route = request.model
        reason = ""
        if eng.config.rules:
            route, reason = resolve_route(eng.config.rules, requested,
                                          user=ctx.user or request.user, tags=ctx.tags,
                                          headers=ctx.headers, level=_NO_COMPLEXITY)
        seconds = wav_seconds(request.file) if request.audio_format == "wav" else None
        chat = ChatRequest(messages=[], model=requested, user=request.user)
        region, required = region_of(ctx, eng.config.routes.get(route))
        return Plan(
            chat, ctx, ctx.request_id or eng.planner.next_id(), clock.now(), clock.monotonic(),
            requested, route, Needs(NEEDS, 0, 0, "medium", region=region,
                                    region_required=required),
            blake2b(request.file, digest_size=12).hexdigest(), reason,
            audio=AudioNote(request, seconds))

    def stream(self, request: TranscriptionRequest, ctx: RequestContext
               ) -> TranscriptionStream:
        """A streamed transcription (`stream=true`): fails over until its first event
        (engine/transcribe_stream.py)."""
        from axtui.engine.transcribe_stream import TranscriptionStream

        return TranscriptionStream(self, request, ctx)

    def reject(self, request: TranscriptionRequest, ctx: RequestContext, kind: ErrorKind,
               message: str, *, reason: str = "") -> RoutingError:
        """Refuse for a reason decided outside the engine (a gateway key's limits)."""
        plan = self.plan(request, ctx)
        if reason:
            plan.reason = reason
        return self.engine.outcomes.fail(plan, kind, message, None)

    async def run(self, request: TranscriptionRequest, ctx: RequestContext
                  ) -> TranscriptionResult:
        eng = self.engine
        plan = self.plan(request, ctx)
        refusal = self.refusal(plan)
        if refusal is not None:
            raise eng.outcomes.fail(plan, *refusal)
        eng.in_flight += 1
        try:
            st, resp = await self.failover.run(plan, _attempt)
            note = plan.audio
            assert note is not None
            note.optimal_cost_nano = optimal(eng.routes[plan.route], note, resp)
            usage = Usage(prompt_tokens=resp.audio_tokens + resp.text_tokens,
                          completion_tokens=resp.output_tokens)
            record = eng.outcomes.finish(plan, Outcome.ok, st, usage, None, None, None)
            return TranscriptionResult(resp, record)
        except asyncio.CancelledError:
            eng.outcomes.cancelled(plan)
            raise
        finally:
            eng.in_flight -= 1

    def refusal(self, plan: Plan) -> tuple[ErrorKind, str, float | None] | None:
        """Why the request is refused before any attempt (the engine's checks, then a file
        no deployment of the route takes), or None."""
        return self.engine._admit(plan) or self._misfit(plan)

    def _misfit(self, plan: Plan) -> tuple[ErrorKind, str, None] | None:
        """A file no transcription deployment of the route takes, whatever their state."""
        route = self.engine.routes.get(plan.route)
        note = plan.audio
        if route is None or note is None:
            return None
        audio = [st.spec.audio for st in route.deployments if st.spec.audio is not None]
        if not audio:
            return (ErrorKind.unsupported, f"route {route.name} has no transcription "
                    "deployment", None)
        req = note.request
        fmt, size = req.audio_format, len(req.file)
        if not any(fmt in a.formats for a in audio):
            known = sorted(set().union(*(a.formats for a in audio)))
            return (ErrorKind.unsupported, f"no deployment of route {route.name} takes {fmt} "
                    f"audio; it takes {', '.join(known)}", None)
        largest = max(a.max_bytes for a in audio if fmt in a.formats)
        if size > largest:
            return (ErrorKind.unsupported, f"the file ({size} bytes) is larger than any "
                    f"deployment of route {route.name} takes ({largest} bytes)", None)
        return None

    def _choose(self, route: RouteState, plan: Plan
                ) -> tuple[list[DeploymentState], list[tuple[str, str]]]:
        """The engine's order (strategy and flags), less what cannot take this file."""
        ordered, skipped = self.engine._choose(route, plan)
        note = plan.audio
        assert note is not None
        fmt, size = note.request.audio_format, len(note.request.file)
        keep, skipped = [], list(skipped)
        for st in ordered:
            audio = st.spec.audio
            why = "lacks transcription" if audio is None else audio.takes(fmt, size)
            if why is None:
                keep.append(st)
            else:
                skipped.append((st.spec.id, why))
        return keep, skipped


async def _attempt(st: DeploymentState, remaining: float, plan: Plan, clock: Clock
                   ) -> TranscriptionResponse:
    """One transcription attempt, judged like a chat call (attempt.call)."""
    note = plan.audio
    assert note is not None
    p = Pending(st, plan, clock)
    resp = await judged(p, remaining, lambda: st.provider.transcribe(note.request,
                                                                     st.spec.model))
    usage, cost = settle(st, plan, resp)
    p.succeeded(usage, resp.status, resp.ratelimit, cost_nano=cost)
    return resp


def settle(st: DeploymentState, plan: Plan, resp: TranscriptionResponse) -> tuple[Usage, int]:
    """What an answer (or a stream's done event) used and cost on `st`; the duration is
    noted on the plan, and a per-minute price without one is said in its reason."""
    note = plan.audio
    assert note is not None
    if note.seconds is None:
        note.seconds = resp.seconds
    cost = _cost(st, note, resp)
    if cost is None:
        cost = 0
        why = f"audio duration unknown: {st.spec.id}'s per-minute price not counted"
        plan.reason = f"{plan.reason}; {why}" if plan.reason else why
    usage = Usage(prompt_tokens=resp.audio_tokens + resp.text_tokens,
                  completion_tokens=resp.output_tokens)
    return usage, cost


def _cost(st: DeploymentState, note: AudioNote, resp: TranscriptionResponse) -> int | None:
    audio = st.spec.audio
    if audio is None:
        return 0
    return audio.cost_nano(note.seconds, resp.audio_tokens, resp.text_tokens,
                           resp.output_tokens)


def optimal(route: RouteState, note: AudioNote, resp: TranscriptionResponse) -> int | None:
    """The cheapest this answer could have been on any deployment of the route that takes
    the file, priced on what is known (a per-time price needs the duration, a per-token
    price the tokens of a token-billed answer)."""
    req = note.request
    fmt, size = req.audio_format, len(req.file)
    tokens = resp.audio_tokens + resp.text_tokens + resp.output_tokens > 0
    best = None
    for st in route.deployments:
        audio = st.spec.audio
        if audio is None or audio.takes(fmt, size) is not None:
            continue
        if not audio.per_time and not tokens:
            continue
        c = audio.cost_nano(note.seconds, resp.audio_tokens, resp.text_tokens,
                            resp.output_tokens)
        if c is not None and (best is None or c < best):
            best = c
    return best
