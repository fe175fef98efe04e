"""Periodic jobs on the engine's Clock: the alert evaluator, retention, the heartbeat.

A job is `fn(now)` called every `interval_s` of clock time (virtual time on a VirtualClock,
so a demo or a replay evaluates alerts when its traffic happens). A plain function runs in
a worker thread, off the event loop; on a VirtualClock it runs inline instead, because
virtual time stands still while the loop is busy: every tick then happens exactly at its
time, whereas a thread would let the loop jump ahead and skip ticks. A coroutine function
is awaited on the loop and must not block. A failing run is counted, logged and kept in the job's stats; the job carries on
at its next tick. Runs never overlap: a run that outlasts its interval skips the ticks it
missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from axtui.clock import VirtualClock

if TYPE_CHECKING:
    from axtui.clock import Clock

log = logging.getLogger(__name__)

JobFn = Callable[[float], object] | Callable[[float], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class JobStats:
    name: str
    interval_s: float
    runs: int  # finished runs, failed ones included
    failures: int
    skipped: int  # ticks missed because a run outlasted its interval
    last_run_at: float | None  # clock time the last run started
    last_duration_s: float | None  # real seconds the last run took
    last_error: str | None  # one line, from the most recent failure


class PeriodicJob:
    def __init__(self, name: str, interval_s: float, fn: JobFn, clock: Clock, *,
                 run_at_start: bool = False) -> None:
        if interval_s <= 0:
            raise ValueError(f"job {name!r}: interval_s must be positive, got {interval_s}")
        self.name = name
        self.interval_s = interval_s
        self.fn = fn
        self.clock = clock
        self.run_at_start = run_at_start
        self.is_async = inspect.iscoroutinefunction(fn)
        self.inline = isinstance(clock, VirtualClock)
        self.runs = 0
        self.failures = 0
        self.skipped = 0
        self.last_run_at: float | None = None
        self.last_duration_s: float | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task | None = None
        self._run: asyncio.Future | None = None  # the run in progress

    def stats(self) -> JobStats:
        return JobStats(self.name, self.interval_s, self.runs, self.failures, self.skipped,
                        self.last_run_at, self.last_duration_s, self.last_error)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        """Stop ticking; a run in progress finishes first (a thread cannot be cancelled,
        and the store it writes to is closed next)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        run, self._run = self._run, None
        if run is not None and not run.done():
            with contextlib.suppress(asyncio.CancelledError):
                await run

    async def run_once(self, now: float | None = None) -> bool:
        """One run at clock time `now` (default: the clock's). False if it failed."""
        now = self.clock.now() if now is None else now
        self.last_run_at = now
        t0 = time.perf_counter()
        try:
            if self.is_async:
                await self.fn(now)  # type: ignore[misc]
            elif self.inline:
                self.fn(now)
            else:
                await asyncio.to_thread(self.fn, now)
            ok = True
        except Exception as e:  # a job's failure is its own: counted, logged, never fatal
            self.failures += 1
            self.last_error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            log.warning("job %s failed (%d so far): %s", self.name, self.failures,
                        self.last_error)
            ok = False
        self.runs += 1
        self.last_duration_s = time.perf_counter() - t0
        return ok

    async def _loop(self) -> None:
        clock = self.clock
        next_at = clock.monotonic() + (0.0 if self.run_at_start else self.interval_s)
        while True:
            await clock.sleep(next_at - clock.monotonic())
            # shielded: cancelling the loop at stop must not abandon a run half-way
            self._run = asyncio.ensure_future(self.run_once())
            await asyncio.shield(self._run)
            self._run = None
            next_at += self.interval_s
            now = clock.monotonic()
            if next_at <= now:  # the run overran: skip the ticks it missed
                missed = int((now - next_at) // self.interval_s) + 1
                self.skipped += missed
                next_at += missed * self.interval_s

