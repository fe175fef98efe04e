"""All time goes through a Clock, so replay and tests can run hours in seconds.

`RealClock` reads the wall clock. `VirtualClock` holds its own time: tests move it with
`advance()`, and `VirtualClock.run(coro)` runs a coroutine on an event loop whose time *is*
the virtual clock and which jumps straight to the next timer whenever nothing is ready, so
`asyncio.sleep`, `asyncio.timeout` and `clock.sleep` all happen in virtual time.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
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
        """Move to wall time `t` (never backwards)."""
        self.advance(t - self.now())

    # On the virtual loop asyncio.sleep waits in virtual time. Elsewhere (a test that
    # advances by hand) it still yields, and time passes by `advance()`.
    sleep = staticmethod(asyncio.sleep)

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return _VirtualTimeLoop(self)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` to completion in virtual time."""
        with asyncio.Runner(loop_factory=self.new_event_loop) as runner:
            return runner.run(main)


class _JumpingSelector(selectors.DefaultSelector):
    """Polls real I/O without blocking; a wait for a timer becomes a jump of the clock."""

    # With callbacks ready (timeout 0) the loop polls I/O on every iteration; in virtual
    # time that poll is mostly wasted, so it happens only every POLL_EVERY such iterations.
    POLL_EVERY = 32

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock
        self._skipped = 0

    def select(self, timeout: float | None = None):  # type: ignore[override]
        if timeout is None:
            return super().select(None)  # nothing scheduled: only real I/O can wake us
        if timeout <= 0:
            self._skipped += 1
            if self._skipped < self.POLL_EVERY:
                return []
        self._skipped = 0
        ready = super().select(0)
        if not ready and timeout > 0:
            self._clock.advance(timeout)
        return ready


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        self._virtual_clock = clock
        super().__init__(_JumpingSelector(clock))

    def time(self) -> float:
        return self._virtual_clock.monotonic()
