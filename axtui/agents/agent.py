"""A long-running agent over the engine: every call it makes goes through `Agent.complete`,
which routes by the task's complexity, counts the exact cost, stops cleanly at the agent's
limits, and checkpoints progress, cost, the deployments used and the caller's own state to
the store. Started again under the same id after a crash, it resumes from its last
checkpoint.

    async with Agent(engine, store, "nightly-digest", limits=Limits.of(budget_usd="2")) as a:
        for doc in docs[a.state.get("done", 0):]:
            await a.complete(ChatRequest(...), complexity="low")
            a.state["done"] = a.state.get("done", 0) + 1

Checkpoints are taken between calls (when one is due, before the next call starts), so the
state they hold is what the caller had made of every answer so far. Each call's record id is
`<agent>.r<run>.<step>`, so the store's records of an agent can be found and, on resume,
the calls a crashed run made after its last checkpoint are counted (those whose records
reached the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from axtui.agents.heartbeat import Heartbeat
from axtui.agents.limits import Limits, level_of, stop_for
from axtui.agents.resume import AgentError, Resumed, resume_point
from axtui.engine.plan import RequestContext
from axtui.store import agents as rows

if TYPE_CHECKING:
    from axtui.engine.engine import Engine
    from axtui.engine.outcome import EngineResult
    from axtui.providers.base import ChatRequest
    from axtui.records import RequestRecord
    from axtui.store.db import Store

log = logging.getLogger(__name__)

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # no dots: record ids are <id>.r<run>.<step>


class AgentStopped(Exception):
    """The agent stopped: a limit, an operator's request, or a newer run taking over. Its
    final checkpoint is written; `async with` ends quietly on it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"agent stopped: {reason}" + (f" ({detail})" if detail else ""))
        self.reason, self.detail = reason, detail


class Agent:
    def __init__(
        self,
        engine: Engine,
        store: Store,
        agent_id: str,
        *,
        limits: Limits | None = None,
        state: Any = None,
        routes: dict[str, str] | None = None,
        checkpoint_every_s: float = 60.0,
        heartbeat_s: float = 5.0,
        keep_checkpoints: int = 10,
    ) -> None:
        """`state`: the caller's JSON-serializable state for a new agent (a resumed one gets
        its checkpoint's). `routes`: complexity hint -> route, for tasks that declare one."""
        if not _ID.fullmatch(agent_id):
            raise AgentError(f"agent id {agent_id!r}: 1-64 letters, digits, '_' or '-'")
        if not checkpoint_every_s > 0 or not heartbeat_s > 0 or keep_checkpoints < 1:
            raise AgentError("checkpoint_every_s and heartbeat_s must be > 0, "
                             "keep_checkpoints >= 1")
        self.routes: dict[str, str] = {}
        for hint, route in (routes or {}).items():
            if route not in engine.routes:
                raise AgentError(f"routes[{hint!r}]: unknown route {route!r}; routes: "
                                 f"{', '.join(sorted(engine.routes))}")
            self.routes[_level(hint)] = route
        self.engine, self.store, self.id = engine, store, agent_id
        self.clock = engine.clock
        self.limits = limits or Limits()
        self.state: Any = {} if state is None else state
        self.checkpoint_every_s, self.heartbeat_s = checkpoint_every_s, heartbeat_s
        self.keep_checkpoints = keep_checkpoints
        self.status = "new"  # new, running, stopped, finished
        self.run = 0
        self.steps = self.failed_steps = self.cost_nano = 0
        self.by_deployment: dict[str, dict[str, int]] = {}
        self.deployment: str | None = None
        self.stop_reason: str | None = None
        self.stop_detail: str | None = None
        self.resumed: Resumed | None = None
        self.checkpoint_failures = 0  # periodic checkpoints that could not be written (logged)
        self._progress: float | None = None
        self._runtime_base = 0.0
        self._t0 = 0.0
        self._last_cp = 0.0
        self._stop_requested: str | None = None
        self._state_json = b"null"  # the last state that serialized: a final fallback
        self._issued = 0  # step numbers handed out in this run (calls may run concurrently)
        self._pending: dict[str, RequestRecord | None] = {}  # record id -> its record, once in
        self._settled = asyncio.Event()  # set while no call is in flight
        self._settled.set()
        self._ending: tuple[str, str] | None = None  # (reason, detail) once a stop began
        self._heartbeat: Heartbeat | None = None
        self._wake = asyncio.Event()  # request_stop() ends a sleep early

    # ------------------------------------------------------------------ what it reports

    @property
    def runtime_s(self) -> float:
        """Seconds run, over every run (up to the last checkpoint of a run that crashed)."""
        if self.status != "running":
            return self._runtime_base
        return self._runtime_base + (self.clock.monotonic() - self._t0)

    @property
    def progress(self) -> float | None:
        return self._progress

    @progress.setter
    def progress(self, value: float | None) -> None:
        """The caller's own measure of how far it is, 0..1 (shown by `axtui agents`)."""
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"progress {value!r}: expected 0..1")
        self._progress = value

    @property
    def budget_left_nano(self) -> int | None:
        b = self.limits.budget_nano
        return None if b is None else b - self.cost_nano

    # ------------------------------------------------------------------ life cycle

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, kind, err, tb) -> bool:
        if self.status != "running":  # already final (a limit, a stop, superseded)
            return isinstance(err, AgentStopped)
        if err is None:
            await self.finish()
            return False
        if isinstance(err, AgentStopped):
            return True
        if isinstance(err, asyncio.CancelledError | KeyboardInterrupt):
            await self.stop("cancelled")
        else:
            await self.stop("error", f"{type(err).__name__}: {err}"[:500])
        return False

    async def start(self) -> Agent:
        """Create the agent, or resume it from its last checkpoint if it exists (crashed or
        stopped). Refuses a finished agent and one that is running elsewhere."""
        if self.status != "new":
            raise AgentError(f"agent {self.id!r} is {self.status}: an Agent starts once")
        self._state_json = _dumps(self.state)
        self._t0 = self.clock.monotonic()
        await asyncio.to_thread(self._open)
        self.status = "running"
        self._last_cp = self.clock.monotonic()
        self.engine.on_record(self._on_record)
        self._heartbeat = Heartbeat(self.store, self.id, self.run, self.heartbeat_s)
        self._heartbeat.start()
        return self

    def _open(self) -> None:
        with self.store.begin() as conn:
            row = rows.agent_row(conn, self.id)
            common = dict(host=socket.gethostname(), pid=os.getpid(), heartbeat_at=time.time(),
                          heartbeat_s=self.heartbeat_s, budget_nano=self.limits.budget_nano,
                          runtime_limit_s=self.limits.runtime_s, step_limit=self.limits.steps,
                          checkpoint_every_s=self.checkpoint_every_s)
            if row is None:
                rows.create_agent(conn, self.id, now=self.clock.now(), **common)
                self.run = 1
            else:
                self._resume(conn, row)
                if not rows.take_over(conn, self.id, old_run=row.run, **common):
                    raise AgentError(f"agent {self.id!r} was resumed by another process")
                self.run = row.run + 1
            rows.write_checkpoint(conn, self._checkpoint(), wall_at=time.time(),
                                  keep=self.keep_checkpoints, state_json=self._state_json)

    def _resume(self, conn, row) -> None:
        cp, self.resumed = resume_point(conn, self.id, row)
        self.state, self._state_json = cp.state, orjson.dumps(cp.state)
        self.steps, self.failed_steps, self.cost_nano = cp.step, cp.failed_steps, cp.cost_nano
        self.by_deployment = cp.by_deployment
        self.deployment, self._progress, self._runtime_base = (cp.deployment, cp.progress,
                                                               cp.runtime_s)
        self._issued = self.steps  # the next run numbers its calls on from here

    async def finish(self) -> None:
        """The work is done: final checkpoint, status finished."""
        await self._end(rows.FINISHED, None, None)

    async def stop(self, reason: str = "requested", detail: str = "") -> None:
        """Stop now (it can be resumed later): final checkpoint, status stopped."""
        await self._end(rows.STOPPED, reason, detail or None)

    async def _end(self, status: str, reason: str | None, detail: str | None) -> None:
        if self.status != "running" or self._ending:
            raise AgentError(f"agent {self.id!r} is {self.status}")
        self._ending = (reason or status, detail or "")  # no new call starts from now
        if self._pending:  # calls still in flight finish and count before the final state
            await self._settled.wait()
        runtime = self.runtime_s
        self.status, self.stop_reason, self.stop_detail = status, reason, detail
        self._runtime_base = runtime
        try:
            await self._write(self._checkpoint(final=True), status, reason, detail)
        except rows.Superseded:
            self.status, self.stop_reason = rows.STOPPED, "superseded"
            raise AgentStopped("superseded", "a newer run owns the agent") from None
        finally:
            self._close()

    def _close(self) -> None:
        self.engine.off_record(self._on_record)
        if self._heartbeat is not None:
            self._heartbeat.stop()

    # ------------------------------------------------------------------ calls

    async def complete(self, request: ChatRequest, *, complexity: str | None = None,
                       route: str | None = None, ctx: RequestContext | None = None
                       ) -> EngineResult:
        """One call through the engine. `complexity` (low/medium/high, or simple/medium/
        complex) is the task's own: it goes to the engine as the request's level (routing
        rules, the free_first strategy and simple_to_small read it) and picks the route
        from the agent's `routes` when one is mapped. `route` names the route outright.
        Raises AgentStopped (after the final checkpoint) instead of starting a call past
        a limit; a call that fails raises RoutingError and still counts."""
        level = level_of(complexity)
        route = route or (self.routes.get(level) if level else None)
        if route is not None:
            request = replace(request, model=route)
        base = ctx or RequestContext()
        call_ctx = replace(base, tags=[*(base.tags or request.tags), f"agent:{self.id}"],
                           request_id=f"{self.id}.r{self.run}.{self._issued + 1}",
                           complexity=level or base.complexity)
        await self._between_calls(self._least_cost(request, call_ctx))
        self._issued += 1  # after the checkpoint: a call in flight is never in one uncounted
        rid = call_ctx.request_id = f"{self.id}.r{self.run}.{self._issued}"
        self._pending[rid] = None
        self._settled.clear()
        try:
            return await self.engine.complete(request, call_ctx)
        finally:
            rec = self._pending.pop(rid)
            if not self._pending:
                self._settled.set()
            if rec is not None:
                self._count(rec)
            else:  # the engine emits one record per request: this would be a bug
                log.error("agent %s: no record for call %s", self.id, rid)

    async def sleep(self, seconds: float) -> None:
        """Wait on the engine's clock (a monitoring agent between rounds), cut short at the
        runtime limit or by `request_stop()`, either of which then stops the agent
        (AgentStopped)."""
        await self._between_calls(0)
        if self.limits.runtime_s is not None:
            seconds = min(seconds, max(0.0, self.limits.runtime_s - self.runtime_s))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        await self._between_calls(0)

    def request_stop(self, reason: str = "requested") -> None:
        """Stop at the next call boundary (a sleep ends at once), with a final checkpoint:
        for a signal handler, e.g. `loop.add_signal_handler(SIGTERM, agent.request_stop,
        "SIGTERM")`. Calls in flight finish first."""
        self._stop_requested = reason
        self._wake.set()

    def _on_record(self, rec: RequestRecord) -> None:
        if rec.id in self._pending:
            self._pending[rec.id] = rec

    def _count(self, rec: RequestRecord) -> None:
        self.steps += 1
        self.failed_steps += not rec.ok
        self.cost_nano += rec.cost_nano
        for a in rec.attempts:
            d = self.by_deployment.setdefault(a.deployment, {"attempts": 0, "ok": 0,
                                                             "cost_nano": 0})
            d["attempts"] += 1
            d["ok"] += a.ok
            d["cost_nano"] += a.cost_nano
        if rec.ok:
            self.deployment = rec.deployment

    def _least_cost(self, request: ChatRequest, ctx: RequestContext) -> int:
        """The least the call can cost: its prompt alone on the cheapest deployment of its
        route or fallbacks (0 without a budget, or for a route the engine will refuse)."""
        if self.limits.budget_nano is None:
            return 0
        engine = self.engine
        plan = engine.planner.plan(request, ctx, self.clock.now(), self.clock.monotonic())
        route = engine.routes.get(plan.route)
        if route is None:
            return 0
        names = [route.name, *route.cfg.fallbacks]
        return min((st.spec.cost_nano(plan.needs.prompt_tokens, 0) for n in names
                    if n in engine.routes for st in engine.routes[n].deployments), default=0)

    async def _between_calls(self, next_call_nano: int) -> None:
        """Checkpoint when due, then stop if a limit or an operator's request says so."""
        if self.status == "new":
            raise AgentError(f"agent {self.id!r} is not started (await start() or async with)")
        if self.status != "running":
            raise AgentStopped(self.stop_reason or self.status, self.stop_detail or "")
        if self._ending:
            raise AgentStopped(*self._ending)
        if self.clock.monotonic() - self._last_cp >= self.checkpoint_every_s:
            await self.checkpoint()
        if self._stop_requested is not None:
            why = ("requested", self._stop_requested)
        elif self._heartbeat is not None and self._heartbeat.lost:
            why = ("superseded", "a newer run owns the agent")
        else:
            why = stop_for(self.limits, cost_nano=self.cost_nano, runtime_s=self.runtime_s,
                           steps=self._issued, next_call_nano=next_call_nano)
        if why is not None:
            if why[0] == "superseded":
                self._supersede()
            else:
                await self.stop(*why)
            raise AgentStopped(*why)

    # ------------------------------------------------------------------ checkpoints

    async def checkpoint(self) -> None:
        """Write a checkpoint now (they are also taken every `checkpoint_every_s`). A
        failure to write is logged and counted; the next one retries."""
        if self.status != "running":
            raise AgentError(f"agent {self.id!r} is {self.status}")
        self._last_cp = self.clock.monotonic()
        try:
            await self._write(self._checkpoint(), rows.RUNNING, None, None)
        except rows.Superseded:
            self._supersede()
            raise AgentStopped("superseded", "a newer run owns the agent") from None
        except AgentError:
            raise
        except Exception as e:  # the store is busy or gone: keep working, retry when due
            self.checkpoint_failures += 1
            log.warning("agent %s: checkpoint failed (%d so far): %s", self.id,
                        self.checkpoint_failures, str(e).splitlines()[0])

    def _supersede(self) -> None:
        self._runtime_base = self.runtime_s
        self.status, self.stop_reason = rows.STOPPED, "superseded"
        self._close()

    def _checkpoint(self, final: bool = False) -> rows.Checkpoint:
        return rows.Checkpoint(
            agent_id=self.id, run=self.run, at=self.clock.now(), step=self.steps,
            failed_steps=self.failed_steps, cost_nano=self.cost_nano, runtime_s=self.runtime_s,
            progress=self._progress, deployment=self.deployment,
            by_deployment={d: dict(v) for d, v in self.by_deployment.items()},
            state=None, final=final, issued=self._issued,
            pending=tuple(int(rid.rsplit(".", 1)[1]) for rid in self._pending))

    async def _write(self, cp: rows.Checkpoint, status: str, reason: str | None,
                     detail: str | None) -> None:
        try:
            self._state_json = _dumps(self.state)
        except AgentError:
            if status == rows.RUNNING:
                raise
            # a final checkpoint keeps the last state that serialized, and says so
            detail = f"{detail + '; ' if detail else ''}state not JSON: kept the last good one"
        state_json = self._state_json

        def write() -> str | None:
            with self.store.begin() as conn:
                return rows.write_checkpoint(conn, cp, wall_at=time.time(),
                                             keep=self.keep_checkpoints, status=status,
                                             stop_reason=reason, stop_detail=detail,
                                             state_json=state_json)

        asked = await asyncio.to_thread(write)
        if asked is not None and self._stop_requested is None:
            self._stop_requested = asked


def _level(hint: str) -> str:
    try:
        level = level_of(hint)
    except ValueError as e:
        raise AgentError(f"routes: {e}") from None
    assert level is not None
    return level


def _dumps(state: Any) -> bytes:
    try:
        return orjson.dumps(state)
    except TypeError as e:
        raise AgentError(f"agent state is not JSON-serializable: {e}") from None
