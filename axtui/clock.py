"""All time goes through a Clock, so replay and tests can run hours in seconds.

`RealClock` reads the wall clock. `VirtualClock` holds its own time: tests move it with
`advance()`, and `VirtualClock.run(coro)` runs a coroutine on an event loop whose time *is*
the virtual clock and which jumps straight to the next timer whenever nothing is ready, so
`asyncio.sleep`, `asyncio.timeout` and `clock.sleep` all happen in virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors
import time
from asyncio import events
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# 2026-01-01T00:00:00Z: a fixed, readable start for virtual runs.
VIRTUAL_EPOCH = 1_767_225_600.0


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (wall time, or virtual wall time)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    # asyncio.sleep itself (a negative delay returns at once): no wrapper coroutine per call
    sleep = staticmethod(asyncio.sleep)


class VirtualClock:
    """A clock that only moves when told to, or when its event loop has nothing to do."""

    # Time is kept as start + elapsed: elapsed stays small, so sub-microsecond steps are
    # not lost to float rounding (at 1.7e9 s the spacing of floats is ~2e-7 s).
    __slots__ = ("_start", "_elapsed")

    def __init__(self, start: float = VIRTUAL_EPOCH) -> None:
        self._start = float(start)
        self._elapsed = 0.0

    def now(self) -> float:
        return self._start + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self._elapsed += seconds

    def set(self, t: float) -> None:
        """Move to wall time `t` (never backwards). `advance(t - now())` in one call (a
        faithful replay sets the clock at nearly every record), with the same arithmetic."""
        seconds = t - (self._start + self._elapsed)
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self._elapsed += seconds

    @staticmethod
    def sleep(seconds: float) -> Awaitable[None]:
        """Wait `seconds` of virtual time (`await clock.sleep(s)`). On the virtual loop a
        sleep is a bare future in the timer heap (no TimerHandle to build, run and cancel:
        about a third of the cost of asyncio.sleep there), returned as it is: no coroutine
        frame of its own to create and to pass through at every wake-up. Elsewhere (a test
        that advances by hand) it is asyncio.sleep, which yields, and time passes by
        `advance()`."""
        loop = asyncio.get_running_loop()
        if seconds <= 0 or type(loop) is not _VirtualTimeLoop:
            return asyncio.sleep(seconds)
        waiter = loop.create_future()
        loop.wake_at(loop._virtual_clock._elapsed + seconds, waiter)
        return waiter

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return _VirtualTimeLoop(self)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` to completion in virtual time."""
        with asyncio.Runner(loop_factory=self.new_event_loop) as runner:
            return runner.run(main)


_Timer = events.TimerHandle
_real_monotonic = time.monotonic


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose time is the virtual clock, tuned for its one job.

    `_run_once` is asyncio's own, less what virtual time does not need:
    - a wait for a timer is a jump of the clock, not a sleep;
    - real I/O (other threads' wake-ups, sockets) is polled, without blocking, at most
      every `POLL_INTERVAL_S` of real time rather than on each iteration. A poll is a
      syscall that releases the GIL for a moment, and a thread waiting for the GIL is woken
      by every release: released more often than the switch interval (5 ms), the waiter's
      timeout never runs out, it never asks for a switch, and it starves. That is what
      held the process recorder's handoff thread off for seconds at a time (polling every
      32 iterations, ~1 ms). Callbacks from other threads do not wait for the poll
      (`call_soon_threadsafe` queues them before it writes the wake-up byte);
    - timers sit in the heap as `(when, seq, handle)` tuples, so ordering them is a C
      comparison instead of `TimerHandle.__lt__` in Python, about eight per timer.
    With nothing scheduled and nothing ready only real I/O can wake the loop, so it blocks.
    """

    POLL_INTERVAL_S = 0.01  # real seconds: twice the GIL's switch interval

    def __init__(self, clock: VirtualClock) -> None:
        self._virtual_clock = clock
        self._timer_seq = itertools.count()
        self._polled_at = _real_monotonic()
        super().__init__(selectors.DefaultSelector())

    def time(self) -> float:
        return self._virtual_clock._elapsed

    def call_at(self, when, callback, *args, context=None):  # type: ignore[override]
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = _Timer(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heapq.heappush(self._scheduled, (when, next(self._timer_seq), timer))
        timer._scheduled = True
        return timer

    def wake_at(self, when: float, waiter: asyncio.Future) -> None:
        """Resolve `waiter` (unless it is done by then, e.g. cancelled) at virtual `when`.
        It sits in the timer heap as `(when, seq, waiter)`: nothing else to allocate."""
        heapq.heappush(self._scheduled, (when, next(self._timer_seq), waiter))

    def call_later(self, delay, callback, *args, context=None):  # type: ignore[override]
        if delay is None:
            raise TypeError("delay must not be None")
        return self.call_at(self._virtual_clock._elapsed + delay, callback, *args, context=context)

    def _run_once(self) -> None:
        scheduled = self._scheduled
        ready = self._ready
        if self._timer_cancelled_count > 100 and self._timer_cancelled_count * 2 > len(scheduled):
            kept = []
            for entry in scheduled:
                item = entry[2]
                if type(item) is not _Timer:  # a sleeper's future
                    if not item.done():
                        kept.append(entry)
                elif item._cancelled:
                    item._scheduled = False
                else:
                    kept.append(entry)
            heapq.heapify(kept)
            self._scheduled = scheduled = kept
            self._timer_cancelled_count = 0
        else:
            while scheduled:
                item = scheduled[0][2]
                if type(item) is _Timer:
                    if not item._cancelled:
                        break
                    self._timer_cancelled_count -= 1
                    item._scheduled = False
                elif not item.done():
                    break
                heapq.heappop(scheduled)

        clock = self._virtual_clock
        if not (ready or self._stopping or scheduled):
            self._poll(None)  # nothing scheduled: only real I/O can wake us
        else:
            got_io = (_real_monotonic() - self._polled_at >= self.POLL_INTERVAL_S
                      and self._poll(0))
            if not (ready or self._stopping or got_io):  # idle: jump to the next timer
                clock._elapsed = max(clock._elapsed, scheduled[0][0])

        end = clock._elapsed + self._clock_resolution
        pop = heapq.heappop
        while scheduled and scheduled[0][0] < end:
            item = pop(scheduled)[2]
            if type(item) is _Timer:
                item._scheduled = False
                ready.append(item)
            elif not item.done():  # a sleeper: its task is queued by set_result
                item.set_result(None)

        popleft = ready.popleft
        if self._debug:
            for _ in range(len(ready)):
                handle = popleft()
                if not handle._cancelled:
                    self._current_handle = handle
                    try:
                        handle._run()
                    finally:
                        self._current_handle = None
        else:
            for _ in range(len(ready)):
                handle = popleft()
                if not handle._cancelled:
                    handle._run()
        handle = None  # noqa: F841  (breaks a cycle when a callback raised)

    def _poll(self, timeout: float | None) -> int:
        events_ = self._selector.select(timeout)
        self._polled_at = _real_monotonic()
        if events_:
            self._process_events(events_)
        return len(events_)
