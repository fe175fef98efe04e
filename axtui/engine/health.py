"""Per-deployment health: rolling attempt stats for routing and the console, and the
circuit breaker that takes a failing deployment out of routing for a while.

The breaker follows resilience4j and Envoy's outlier detection: it trips on a failure
rate over a sliding time window (once the window holds `min_calls` calls) or on N
consecutive failures; it stays open for a time that doubles on repeated trips (capped);
then lets a few trial calls through (half-open) and closes when enough of them succeed.
Nothing here awaits, so every state change is atomic on the event loop.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from axtui.clock import Clock
from axtui.config import BreakerConfig
from axtui.records import ErrorKind

log = logging.getLogger(__name__)

# Failures that say the deployment is unwell. Caller-side kinds (bad_request,
# context_length, content_policy, not_found) say nothing about it; rate_limited is a
# cooldown, not a fault.
FAILURE_KINDS = frozenset(
    {
        ErrorKind.server,
        ErrorKind.overloaded,
        ErrorKind.timeout,
        ErrorKind.connect,
        ErrorKind.malformed,
        ErrorKind.auth,
        ErrorKind.interrupted,  # a stream that broke mid-way is the upstream's failure too
    }
)
# What the health stats count as the deployment not answering (the console's error rate).
_STATS_FAILURES = FAILURE_KINDS | {ErrorKind.rate_limited}

_EWMA_ALPHA = 0.2  # weight of the newest sample: ~the last 10 attempts dominate
_BUCKETS = 20  # time buckets per window: the window slides in steps of window/20


class _WindowCounts:
    """Calls and failures over a sliding time window, kept in time buckets with running
    totals: O(1) to add and to read (a bucket leaves the totals as the window passes it)."""

    __slots__ = ("_width", "_n", "_head", "_calls", "_fails", "calls", "fails")

    def __init__(self, window_s: float, buckets: int = _BUCKETS) -> None:
        self._width = window_s / buckets
        self._n = buckets
        self._head = 0  # the newest bucket index the totals include
        self._calls = [0] * buckets
        self._fails = [0] * buckets
        self.calls = 0
        self.fails = 0

    def _slide(self, now: float) -> int:
        """Drop buckets that fell out of the window; return the current bucket's slot."""
        idx = int(now / self._width)
        head = self._head
        if idx != head:
            if idx - head >= self._n:
                self.clear()
            else:
                for i in range(head + 1, idx + 1):
                    slot = i % self._n
                    self.calls -= self._calls[slot]
                    self.fails -= self._fails[slot]
                    self._calls[slot] = self._fails[slot] = 0
            self._head = idx
        return idx % self._n

    def add(self, now: float, failed: bool) -> None:
        slot = self._slide(now)
        self._calls[slot] += 1
        self.calls += 1
        if failed:
            self._fails[slot] += 1
            self.fails += 1

    def totals(self, now: float) -> tuple[int, int]:
        self._slide(now)
        return self.calls, self.fails

    def clear(self) -> None:
        self._calls = [0] * self._n
        self._fails = [0] * self._n
        self.calls = self.fails = 0


class _Samples:
    """The most recent values (a ring) with their times; p50/p95 over those inside the
    window. Percentiles are read per routing decision and so are cached: recomputed after
    16 new samples (fewer while the ring is nearly empty) or 1 s of clock time."""

    __slots__ = ("_window", "_t", "_v", "_next", "_cache", "_new", "_basis", "_at")

    REFRESH_SAMPLES = 16
    REFRESH_S = 1.0

    def __init__(self, window_s: float, capacity: int = 256) -> None:
        self._window = window_s
        self._t: list[float] = [-math.inf] * capacity
        self._v: list[float] = [0.0] * capacity
        self._next = 0
        self._cache: tuple[float, float] | None = None
        self._new = 0  # samples since the cache was computed
        self._basis = 0  # samples the cache was computed from
        self._at = -math.inf

    def add(self, now: float, value: float) -> None:
        i = self._next
        self._t[i], self._v[i] = now, value
        self._next = (i + 1) % len(self._t)
        self._new += 1

    def percentiles(self, now: float) -> tuple[float, float] | None:
        """(p50, p95) of the samples in the window, or None when there are none."""
        new = self._new
        if (new and new >= min(self.REFRESH_SAMPLES, max(1, self._basis // 4))) or (
            now - self._at >= self.REFRESH_S
        ):
            self._recompute(now)
        return self._cache

    def _recompute(self, now: float) -> None:
        since = now - self._window
        values = sorted(v for t, v in zip(self._t, self._v, strict=True) if t > since)
        self._new, self._basis, self._at = 0, len(values), now
        if not values:
            self._cache = None
            return
        n = len(values)
        self._cache = (values[min(n - 1, n // 2)], values[min(n - 1, math.ceil(0.95 * n) - 1)])


# --------------------------------------------------------------------------- breaker


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    at: float  # wall time (Clock.now)
    old: BreakerState
    new: BreakerState
    reason: str


TransitionCallback = Callable[[str, BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """closed → open → half_open → closed (or back to open, for longer).

    Use: `available()` to filter candidates (no side effects), `allow()` right before an
    attempt (in half-open it reserves one of `half_open_trials` permits), then exactly
    one of `on_success()`, `on_failure(kind)`, `on_rate_limited(retry_after_s)` or
    `release()` (cancelled, or not attempted after all) for every allowed call.

    A 429 is a cooldown, not a fault: the breaker opens until its retry-after has passed
    without counting a trip, then returns to where it was. Open time grows as
    `open_s * 2**(trips in a row - 1)` up to `max_open_s`; the growth resets once the
    breaker has stayed closed for `max_open_s`.

    A result that arrives in half-open while no trial permit is out comes from a call
    that started before the breaker opened; it is ignored, like results while open.

    Panic trials (Envoy's panic threshold, made gentle): when every candidate of a route
    is out, `allow_panic()` lets a call through an open breaker (or past a half-open one's
    permits) at most `panic_trials_per_s` a second. A panic trial that succeeds counts as
    a trial success (half-open, or closed once enough have); one that fails changes
    nothing, so the open time does not grow with every probe."""

    HISTORY = 64

    def __init__(
        self,
        clock: Clock,
        config: BreakerConfig | None = None,
        *,
        deployment: str = "",
        on_transition: TransitionCallback | None = None,
    ) -> None:
        self.clock = clock
        self.config = cfg = config or BreakerConfig()
        self.deployment = deployment
        self.on_transition = on_transition
        self.trips = 0  # every trip since creation (cooldowns are not trips)
        self.history: deque[BreakerTransition] = deque(maxlen=self.HISTORY)
        self._state = BreakerState.closed
        self._window = _WindowCounts(cfg.window_s)
        self._consecutive = 0
        self._streak = 0  # trips in a row: the exponent of the open time
        self._closed_at = clock.monotonic()
        self._healthy_s = cfg.max_open_s
        self._open_until = -math.inf  # monotonic
        self._resume = BreakerState.half_open  # where `open` leads when its time is up
        self._trials_out = 0
        self._trial_successes = 0
        self._panic_out = 0  # panic trials through an open breaker, awaiting a verdict
        self._panic_next = -math.inf  # monotonic time of the next panic trial allowed

    # -- reading

    @property
    def state(self) -> BreakerState:
        self._tick()
        return self._state

    @property
    def open_until(self) -> float | None:
        """Wall time when the open state ends, or None when not open."""
        self._tick()
        if self._state is not BreakerState.open:
            return None
        return self.clock.now() + (self._open_until - self.clock.monotonic())

    def cooling_s(self) -> float:
        """Seconds left of a 429's cooldown (0.0: not cooling, or open on faults)."""
        if self._state is not BreakerState.open or self._resume is not BreakerState.closed:
            return 0.0
        return max(0.0, self._open_until - self.clock.monotonic())

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def available(self) -> bool:
        """Whether `allow()` would let a call through now (reserves nothing)."""
        s = self._state
        if s is BreakerState.closed:
            return True
        if s is BreakerState.open:
            if self.clock.monotonic() < self._open_until:
                return False
            self._tick()
            if self._state is BreakerState.closed:
                return True
        return self._trials_out < self.config.half_open_trials

    # -- the call protocol

    def allow(self) -> bool:
        """Let a call through (reserving a trial permit when half-open), or refuse."""
        if not self.available():
            return False
        if self._state is BreakerState.half_open:
            self._trials_out += 1
        return True

    def allow_panic(self) -> bool:
        """Every candidate is out: let a trial through this faulted breaker if its panic
        rate allows (never through a 429's cooldown: that is the upstream's own word)."""
        s = self.state
        if s is BreakerState.closed or (s is BreakerState.open
                                         and self._resume is BreakerState.closed):
            return False
        now = self.clock.monotonic()
        if now < self._panic_next:
            return False
        self._panic_next = now + 1.0 / self.config.panic_trials_per_s
        if s is BreakerState.open:
            self._panic_out += 1
        else:
            self._trials_out += 1
        return True

    def release(self) -> None:
        """An allowed call ended without a verdict (cancelled, or never sent)."""
        if self._state is BreakerState.half_open and self._trials_out > 0:
            self._trials_out -= 1
        elif self._state is BreakerState.open and self._panic_out > 0:
            self._panic_out -= 1

    def on_success(self) -> None:
        s = self._state
        if s is BreakerState.closed:
            self._consecutive = 0
            self._window.add(self.clock.monotonic(), False)
        elif s is BreakerState.half_open and self._trials_out > 0:
            self._trials_out -= 1
            self._trial_successes += 1
            if self._trial_successes >= self.config.half_open_trials:
                self._close(f"{self._trial_successes} trial calls succeeded")
        elif s is BreakerState.open and self._panic_out > 0:
            self._panic_out -= 1
            if self.config.half_open_trials <= 1:
                self._close("a panic trial succeeded")
            else:
                self._trials_out, self._trial_successes = 0, 1
                self._move(BreakerState.half_open, "a panic trial succeeded")

    def replayed(self, kind: ErrorKind | None, retry_after_s: float | None = None) -> None:
        """A recorded attempt (a faithful replay's): its verdict, as `allow()` then the
        matching `on_*` would give it; nothing when the breaker would have refused it. A
        closed breaker's success, most attempts, is taken in place (the replay's hot path)."""
        if self._state is BreakerState.closed:
            if kind is None:
                self._consecutive = 0
                self._window.add(self.clock.monotonic(), False)
                return
        elif not self.allow():
            return
        if kind is None:
            self.on_success()
        elif kind is ErrorKind.rate_limited:
            self.on_rate_limited(retry_after_s)
        else:
            self.on_failure(kind)

    def on_failure(self, kind: ErrorKind, retry_after_s: float | None = None) -> None:
        """A failed call. Only FAILURE_KINDS count; a 429 becomes a cooldown; any other
        kind just releases the call's permit."""
        if kind is ErrorKind.rate_limited:
            self.on_rate_limited(retry_after_s)
            return
        if kind not in FAILURE_KINDS:
            self.release()
            return
        s = self._state
        if s is BreakerState.open and self._panic_out > 0:
            self._panic_out -= 1  # a failed probe: the breaker stays as it was
            return
        if s is BreakerState.closed:
            now = self.clock.monotonic()
            self._consecutive += 1
            self._window.add(now, True)
            cfg = self.config
            if self._consecutive >= cfg.consecutive_failures:
                self._trip(f"{self._consecutive} consecutive failures ({kind})")
                return
            calls, fails = self._window.totals(now)
            if calls >= cfg.min_calls and fails >= cfg.failure_rate * calls:
                self._trip(f"{fails} of {calls} calls failed in {cfg.window_s:g}s ({kind})")
        elif s is BreakerState.half_open and self._trials_out > 0:
            self._trials_out -= 1
            self._trip(f"trial call failed ({kind})")

    def on_rate_limited(self, retry_after_s: float | None) -> None:
        """A 429: unavailable until its retry-after (1 s when none) without a trip."""
        wait = retry_after_s if retry_after_s and retry_after_s > 0 else 1.0
        until = self.clock.monotonic() + wait
        s = self._state
        reason = f"rate limited: retry after {wait:g}s"
        if s is BreakerState.open:
            if self._panic_out > 0:
                self._panic_out -= 1
            self._open_until = max(self._open_until, until)
        elif s is BreakerState.closed:
            self._open(until, BreakerState.closed, reason)
        elif self._trials_out > 0:  # a trial was told to wait: health is still unproven
            self._trials_out -= 1
            self._open(until, BreakerState.half_open, reason)

    def reset(self, reason: str = "reset by operator") -> None:
        """Close now and forget the trip streak."""
        self._streak = 0
        if self._state is not BreakerState.closed:
            self._close(reason)

    # -- transitions

    def _tick(self) -> None:
        if self._state is BreakerState.open and self.clock.monotonic() >= self._open_until:
            if self._resume is BreakerState.closed:
                self._window.clear()
                self._consecutive = 0
                self._move(BreakerState.closed, "cooldown over")
            else:
                self._trials_out = self._trial_successes = self._panic_out = 0
                self._move(BreakerState.half_open, "open time elapsed")

    def _trip(self, reason: str) -> None:
        now = self.clock.monotonic()
        if self._state is BreakerState.closed and now - self._closed_at >= self._healthy_s:
            self._streak = 0
        self._streak += 1
        self.trips += 1
        cfg = self.config
        open_for = min(cfg.open_s * 2 ** min(self._streak - 1, 30), cfg.max_open_s)
        self._open(now + open_for, BreakerState.half_open, f"{reason}; open for {open_for:g}s")

    def _open(self, until: float, resume: BreakerState, reason: str) -> None:
        self._open_until = until
        self._resume = resume
        self._trials_out = self._trial_successes = self._panic_out = 0
        self._consecutive = 0
        self._window.clear()
        self._move(BreakerState.open, reason)

    def _close(self, reason: str) -> None:
        self._window.clear()
        self._consecutive = 0
        self._trials_out = self._trial_successes = self._panic_out = 0
        self._closed_at = self.clock.monotonic()
        self._move(BreakerState.closed, reason)

    def _move(self, new: BreakerState, reason: str) -> None:
        old = self._state
        self._state = new
        self.history.append(BreakerTransition(self.clock.now(), old, new, reason))
        if self.on_transition is not None:
            try:
                self.on_transition(self.deployment, old, new, reason)
            except Exception:  # an observer must never break routing
                log.exception("breaker transition callback failed for %s", self.deployment)


# --------------------------------------------------------------------------- health


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """One deployment's health at `at` (wall time), for the console and the CLI."""

    at: float
    attempts: int  # in the window
    failures: int  # in the window: deployment faults and 429s
    success_rate: float | None  # None: no attempts in the window
    p50_ms: float | None
    p95_ms: float | None
    ewma_ms: float | None
    ttft_p50_ms: float | None
    ttft_ewma_ms: float | None
    consecutive_failures: int
    in_flight: int
    last_error_kind: ErrorKind | None
    last_error_at: float | None
    breaker: BreakerState | None = None
    open_until: float | None = None
    trips: int = 0


class DeploymentHealth:
    """Rolling stats of one deployment's attempts over `window_s`.

    Latency percentiles and EWMAs are over successful attempts (a fast 500 or a slow
    timeout is not the latency a caller would get); the success rate counts every
    attempt, where caller-side errors are not the deployment's failures."""

    __slots__ = (
        "clock",
        "window_s",
        "in_flight",
        "consecutive_failures",
        "ewma_ms",
        "ttft_ewma_ms",
        "last_error_kind",
        "last_error_at",
        "_counts",
        "_latency",
        "_ttft",
    )

    def __init__(self, clock: Clock, window_s: float = 60.0) -> None:
        self.clock = clock
        self.window_s = window_s
        self.in_flight = 0
        self.consecutive_failures = 0
        self.ewma_ms: float | None = None
        self.ttft_ewma_ms: float | None = None
        self.last_error_kind: ErrorKind | None = None
        self.last_error_at: float | None = None  # wall time
        self._counts = _WindowCounts(window_s)
        self._latency = _Samples(window_s)
        self._ttft = _Samples(window_s)

    def begin(self) -> None:
        """An attempt was sent (pair with `end()`, however the attempt ends)."""
        self.in_flight += 1

    def end(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def record_success(self, latency_ms: float, ttft_ms: float | None = None) -> None:
        now = self.clock.monotonic()
        self._counts.add(now, False)
        self.consecutive_failures = 0
        self._latency.add(now, latency_ms)
        e = self.ewma_ms
        self.ewma_ms = latency_ms if e is None else e + _EWMA_ALPHA * (latency_ms - e)
        if ttft_ms is not None:
            self._ttft.add(now, ttft_ms)
            e = self.ttft_ewma_ms
            self.ttft_ewma_ms = ttft_ms if e is None else e + _EWMA_ALPHA * (ttft_ms - e)

    def record_failure(self, kind: ErrorKind, latency_ms: float = 0.0) -> None:
        """A failed attempt. `latency_ms` is accepted for symmetry but never enters the
        latency stats (see the class docstring)."""
        if kind is ErrorKind.cancelled:
            return
        failed = kind in _STATS_FAILURES
        self._counts.add(self.clock.monotonic(), failed)
        if failed:
            self.consecutive_failures += 1
            self.last_error_kind = kind
            self.last_error_at = self.clock.now()

    def success_rate(self) -> float:
        """Share of attempts in the window the deployment did not fail; 1.0 with no
        attempts, so a new or idle deployment is tried rather than shunned."""
        calls, fails = self._counts.totals(self.clock.monotonic())
        return 1.0 if calls == 0 else (calls - fails) / calls

    def p50_ms(self) -> float | None:
        p = self._latency.percentiles(self.clock.monotonic())
        return None if p is None else p[0]

    def p95_ms(self) -> float | None:
        p = self._latency.percentiles(self.clock.monotonic())
        return None if p is None else p[1]

    def snapshot(self, breaker: CircuitBreaker | None = None) -> HealthSnapshot:
        now = self.clock.monotonic()
        calls, fails = self._counts.totals(now)
        lat = self._latency.percentiles(now)
        ttft = self._ttft.percentiles(now)
        return HealthSnapshot(
            at=self.clock.now(),
            attempts=calls,
            failures=fails,
            success_rate=(calls - fails) / calls if calls else None,
            p50_ms=lat[0] if lat else None,
            p95_ms=lat[1] if lat else None,
            ewma_ms=self.ewma_ms,
            ttft_p50_ms=ttft[0] if ttft else None,
            ttft_ewma_ms=self.ttft_ewma_ms,
            consecutive_failures=self.consecutive_failures,
            in_flight=self.in_flight,
            last_error_kind=self.last_error_kind,
            last_error_at=self.last_error_at,
            breaker=breaker.state if breaker is not None else None,
            open_until=breaker.open_until if breaker is not None else None,
            trips=breaker.trips if breaker is not None else 0,
        )
