"""Rate limits on both sides of the engine: a deployment's headroom (the upstream's limits,
configured and learned from its headers) and caller quotas (per user and per key).

Every counter is a GCRA (generic cell rate algorithm: a token bucket kept as one
"theoretical arrival time"): exact, O(1) in time and memory, and driven by our Clock (the
`limits` library reads wall time itself, so it cannot run in virtual time). A limit of
`L` per period allows a burst of `L`, then refills continuously at `L / period`, the way
OpenAI and Anthropic describe their own limits. These classes are the in-process
implementations; a Redis one (for a fleet) keeps the same methods.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from axtui.clock import Clock
from axtui.config import QuotaLimits, QuotasConfig
from axtui.providers.base import RateLimitInfo
from axtui.records import NANO_PER_USD

MINUTE = 60.0
DAY = 86_400.0
DEFAULT_RETRY_AFTER_S = 1.0  # a 429 that did not say how long
# A learned `remaining` without a reset counts this long (or until the retry-after): a
# guess, so short; every answer corrects it anyway (see Headroom.learn and .answered).
DEFAULT_LEARNED_S = 5.0
_EPS = 1e-9


class RateWindow:
    """`limit` units per `period_s` as a GCRA. Times are the Clock's monotonic seconds.
    A unit is a request or a token; a request of `cost` units fits when the bucket holds
    that many. `take` always counts (post-paid tokens may run into debt)."""

    __slots__ = ("limit", "period_s", "_interval", "_tat")

    def __init__(self, limit: int, period_s: float) -> None:
        if limit < 1 or period_s <= 0:
            raise ValueError("a rate window needs limit >= 1 and period_s > 0")
        self.limit = limit
        self.period_s = period_s
        self._interval = period_s / limit
        self._tat = -math.inf  # theoretical arrival time: the bucket is empty from then on

    def wait_s(self, now: float, cost: float = 1) -> float:
        """Seconds until `cost` units fit (0.0: they fit now). A cost above the limit never
        fits; the answer is then the time until the bucket is full."""
        tat = self._tat if self._tat > now else now
        over = tat + cost * self._interval - now - self.period_s
        if over <= self.period_s * _EPS:
            return 0.0
        return over if cost <= self.limit else max(0.0, tat - now)

    def fits(self, now: float, cost: float = 1) -> bool:
        tat = self._tat if self._tat > now else now
        return tat + cost * self._interval - now <= self.period_s * (1.0 + _EPS)

    def take(self, now: float, cost: float = 1) -> None:
        tat = self._tat if self._tat > now else now
        self._tat = tat + cost * self._interval

    def give_back(self, cost: float) -> None:
        """Return units counted too early (an estimate above what was used)."""
        self._tat -= cost * self._interval

    def used(self, now: float) -> float:
        """Units currently counted against the window (may exceed the limit when in debt)."""
        return max(0.0, self._tat - now) / self._interval

    def remaining(self, now: float) -> int:
        return window_left(self.limit, self.used(now))

    def reset_s(self, now: float) -> float:
        """Seconds until the window is full again."""
        return max(0.0, self._tat - now)

    def fraction_left(self, now: float) -> float:
        return min(1.0, max(0.0, 1.0 - self.used(now) / self.limit))

    def idle(self, now: float) -> bool:
        """Full again: forgetting this window changes no decision."""
        return self._tat <= now


# --------------------------------------------------------------------------- headroom


class Headroom:
    """How much one deployment may still send before its upstream says 429.

    Three sources, all of which must agree: configured windows (rpm/tpm, and a free
    tier's rpd/tpd as day windows), what the upstream's last response said (`learn`:
    `remaining` lasts until its `reset`), and a cooldown after a 429 (its retry-after).
    Call `consume` when an attempt is sent, with the tokens it may use, and `adjust` with
    the difference once the response reports what it used.

    Only a cooldown is the upstream's own word (`cooling_s`); everything else is a
    prediction, which orders deployments but never refuses a request by itself."""

    __slots__ = (
        "clock",
        "learned_s",
        "learned",
        "_req_windows",
        "_tok_windows",
        "_cooldown_until",
        "_req_left",
        "_req_limit",
        "_req_until",
        "_tok_left",
        "_tok_limit",
        "_tok_until",
    )

    def __init__(
        self,
        clock: Clock,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        rpd: int | None = None,
        tpd: int | None = None,
        learned_s: float = DEFAULT_LEARNED_S,
    ) -> None:
        self.clock = clock
        self.learned_s = learned_s
        self.learned = False  # whether any count was learned from the upstream (hot path)
        self._req_windows = tuple(
            RateWindow(n, p) for n, p in ((rpm, MINUTE), (rpd, DAY)) if n is not None
        )
        self._tok_windows = tuple(
            RateWindow(n, p) for n, p in ((tpm, MINUTE), (tpd, DAY)) if n is not None
        )
        self._cooldown_until = -math.inf
        # learned from the upstream: units left until (monotonic) `_until`; None: unknown
        self._req_left: int | None = None
        self._req_limit: int | None = None
        self._req_until = -math.inf
        self._tok_left: int | None = None
        self._tok_limit: int | None = None
        self._tok_until = -math.inf

    # -- decisions

    def has_room(self, est_tokens: int = 0) -> bool:
        """Whether a request of about `est_tokens` tokens can go now without a 429."""
        now = self.clock.monotonic()
        if now < self._cooldown_until:
            return False
        for w in self._req_windows:
            if not w.fits(now, 1):
                return False
        for w in self._tok_windows:
            if not w.fits(now, est_tokens):
                return False
        if self._req_left is not None and now < self._req_until and self._req_left < 1:
            return False
        return not (
            self._tok_left is not None
            and now < self._tok_until
            and self._tok_left < max(1, est_tokens)
        )

    def wait_s(self, est_tokens: int = 0) -> float:
        """Seconds until `has_room(est_tokens)` may turn true (0.0: room now); a
        retry-after for callers when every deployment is out of room."""
        now = self.clock.monotonic()
        wait = max(0.0, self._cooldown_until - now)
        for w in self._req_windows:
            wait = max(wait, w.wait_s(now, 1))
        for w in self._tok_windows:
            wait = max(wait, w.wait_s(now, est_tokens))
        if self._req_left is not None and now < self._req_until and self._req_left < 1:
            wait = max(wait, self._req_until - now)
        if (
            self._tok_left is not None
            and now < self._tok_until
            and self._tok_left < max(1, est_tokens)
        ):
            wait = max(wait, self._tok_until - now)
        return wait

    def fraction_left(self) -> float:
        """0..1, the tightest of every window (0 while cooling down): the console's room."""
        now = self.clock.monotonic()
        if now < self._cooldown_until:
            return 0.0
        frac = 1.0
        for w in self._req_windows:
            frac = min(frac, w.fraction_left(now))
        for w in self._tok_windows:
            frac = min(frac, w.fraction_left(now))
        if self._req_left is not None and self._req_limit and now < self._req_until:
            frac = min(frac, max(0.0, self._req_left / self._req_limit))
        if self._tok_left is not None and self._tok_limit and now < self._tok_until:
            frac = min(frac, max(0.0, self._tok_left / self._tok_limit))
        return frac

    def cooling_s(self) -> float:
        """Seconds left of a 429's cooldown (0.0: not cooling)."""
        return max(0.0, self._cooldown_until - self.clock.monotonic())

    @property
    def cooldown_until(self) -> float | None:
        """Wall time (Clock.now) when a 429's cooldown ends, or None when not cooling."""
        now = self.clock.monotonic()
        if now >= self._cooldown_until:
            return None
        return self.clock.now() + (self._cooldown_until - now)

    # -- accounting

    def consume(self, tokens: int = 0) -> None:
        """Count one request sent now, with the tokens it may use (prompt + max output)."""
        if self._req_windows or self._tok_windows:
            now = self.clock.monotonic()
            for w in self._req_windows:
                w.take(now, 1)
            for w in self._tok_windows:
                w.take(now, tokens)
        if self._req_left is not None:
            self._req_left -= 1
        if self._tok_left is not None:
            self._tok_left -= tokens

    def adjust(self, delta_tokens: int) -> None:
        """Correct the tokens of the last `consume` once the response says what it used
        (negative: the estimate was high, give the difference back)."""
        if not delta_tokens:
            return
        if self._tok_windows:
            now = self.clock.monotonic()
        for w in self._tok_windows:
            if delta_tokens > 0:
                w.take(now, delta_tokens)
            else:
                w.give_back(-delta_tokens)
        if self._tok_left is not None:
            self._tok_left -= delta_tokens

    def learn(self, info: RateLimitInfo) -> None:
        """Take in what the upstream said about its limits: `remaining` holds until its
        reset, or for `learned_s` without one (the upstream counts in-flight requests
        already; we count what we send after this); a retry-after bounds how long an
        exhausted count holds, and starts a cooldown."""
        now = self.clock.monotonic()
        retry = info.retry_after_s
        if info.remaining_requests is not None or info.remaining_tokens is not None:
            self.learned = True
        if info.remaining_requests is not None:
            left = self._req_left = info.remaining_requests
            self._req_limit = info.limit_requests or self._req_limit
            self._req_until = now + _holds_s(info.reset_requests_s, retry, left < 1,
                                             self.learned_s)
        if info.remaining_tokens is not None:
            left = self._tok_left = info.remaining_tokens
            self._tok_limit = info.limit_tokens or self._tok_limit
            self._tok_until = now + _holds_s(info.reset_tokens_s, retry, left < 1,
                                             self.learned_s)
        if retry is not None:
            self.cooldown(retry)

    def answered(self) -> None:
        """An attempt succeeded and its answer said nothing of the limits (a stream's, or
        an upstream without headers): the upstream had room, so a learned count we ran
        below zero was wrong. Forget it rather than count down forever."""
        if self._req_left is not None and self._req_left < 0:
            self._req_left = None
        if self._tok_left is not None and self._tok_left < 0:
            self._tok_left = None

    def cooldown(self, retry_after_s: float | None) -> None:
        """After a 429: no room until its retry-after has passed (1 s when it gave none)."""
        wait = retry_after_s if retry_after_s is not None else DEFAULT_RETRY_AFTER_S
        until = self.clock.monotonic() + max(0.0, wait)
        if until > self._cooldown_until:
            self._cooldown_until = until


def _holds_s(reset: float | None, retry: float | None, exhausted: bool, default: float) -> float:
    """How long a learned count holds: its reset, else the default; an exhausted count
    no longer than the retry-after when the upstream gave one."""
    hold = reset if reset is not None else default
    if exhausted and retry is not None:
        hold = min(hold, retry)
    return max(0.0, hold)


# --------------------------------------------------------------------------- caller quotas


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    ok: bool
    reason: str = ""
    retry_after_s: float | None = None  # None: waiting will not help (or nothing to wait for)
    scope: str = ""  # "key", "user", "ip", "route" or "global" when refused


QUOTA_OK = QuotaDecision(True)
# checked in this order (the caller's own quotas first, the shared ones last)
SCOPES = ("key", "user", "ip", "route", "global")
GLOBAL = "*"  # the one caller of the global scope


class _CallerState:
    __slots__ = ("rpm", "tpm", "day", "spent_nano")

    def __init__(self, limits: QuotaLimits) -> None:
        self.rpm = RateWindow(limits.rpm, MINUTE) if limits.rpm else None
        self.tpm = RateWindow(limits.tpm, MINUTE) if limits.tpm else None
        self.day = -1  # UTC day number of `spent_nano`
        self.spent_nano = 0

    def spent_today(self, day: int) -> int:
        return self.spent_nano if self.day == day else 0

    def idle(self, now: float, day: int) -> bool:
        return (
            (self.rpm is None or self.rpm.idle(now))
            and (self.tpm is None or self.tpm.idle(now))
            and self.spent_today(day) == 0
        )


def _nano(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * NANO_PER_USD)


def scope_label(scope: str, who: str) -> str:
    """How a refusal names its quota: `key`, `ip`, `global`, `route chat`."""
    return f"route {who}" if scope == "route" else scope


class CallerQuotas:
    """Per user id, key id and client IP, per route and over everything: requests and
    tokens per minute, and spend per UTC day. A request must fit every quota that applies.

    `check` admits a request: when it says ok, the request already counts toward rpm
    (so concurrent requests cannot all slip under the limit). Tokens and spend are known
    only afterwards and are counted by `record`; `check` refuses when what is already
    counted leaves no room for the request's estimate. Idle callers are forgotten (least
    recently seen first) once more than `max_callers` are tracked."""

    SWEEP_EVERY_S = 60.0

    def __init__(
        self,
        clock: Clock,
        per_user: QuotaLimits | None = None,
        per_key: QuotaLimits | None = None,
        *,
        per_ip: QuotaLimits | None = None,
        global_: QuotaLimits | None = None,
        per_route: dict[str, QuotaLimits] | None = None,
        max_callers: int = 100_000,
    ) -> None:
        self.clock = clock
        self.max_callers = max_callers
        self._set_limits(per_user, per_key, per_ip, global_, per_route)
        self._callers: OrderedDict[tuple[str, str], _CallerState] = OrderedDict()
        self._counts: Counter[str] = Counter()  # callers tracked per scope
        self._next_sweep = clock.monotonic() + self.SWEEP_EVERY_S

    def _set_limits(self, per_user: QuotaLimits | None, per_key: QuotaLimits | None,
                    per_ip: QuotaLimits | None, global_: QuotaLimits | None,
                    per_route: dict[str, QuotaLimits] | None) -> None:
        self.per_user = per_user or QuotaLimits()
        self.per_key = per_key or QuotaLimits()
        self.per_ip = per_ip or QuotaLimits()
        self.global_ = global_ or QuotaLimits()
        self.per_route = {r: lim for r, lim in (per_route or {}).items() if _limited(lim)}
        self._limits = {"user": self.per_user, "key": self.per_key, "ip": self.per_ip,
                        "global": self.global_}
        self._active = {scope: _limited(lim) for scope, lim in self._limits.items()}
        self._active["route"] = bool(self.per_route)

    def relimit(self, quotas: QuotasConfig) -> None:
        """New limits in place, keeping every caller's counted requests, tokens and spend
        (a config reload: the object stays the one the engine and outcomes share). A caller
        whose scope is no longer limited is forgotten."""
        now = self.clock.monotonic()
        self._set_limits(quotas.per_user, quotas.per_key, quotas.per_ip, quotas.global_,
                         quotas.per_route)
        for caller, st in list(self._callers.items()):
            lim = self.limits_of(*caller)
            if lim is None:
                self._forget(caller)
                continue
            st.rpm = carried_window(st.rpm, lim.rpm, MINUTE, now)
            st.tpm = carried_window(st.tpm, lim.tpm, MINUTE, now)

    @classmethod
    def from_config(cls, clock: Clock, quotas: QuotasConfig) -> CallerQuotas:
        return cls(clock, quotas.per_user, quotas.per_key, per_ip=quotas.per_ip,
                   global_=quotas.global_, per_route=quotas.per_route)

    @property
    def enabled(self) -> bool:
        """False when no limit is configured: callers may skip check/record entirely."""
        return any(self._active.values())

    def __len__(self) -> int:
        return len(self._callers)

    def limits_of(self, scope: str, who: str) -> QuotaLimits | None:
        """The limits of one caller of a scope (None: that caller is not limited)."""
        if scope == "route":
            return self.per_route.get(who)
        return self._limits[scope] if self._active.get(scope) else None

    def spend_limit_nano(self, scope: str, who: str) -> int | None:
        lim = self.limits_of(scope, who)
        return None if lim is None else _nano(lim.spend_day_usd)

    def scopes(self, user: str | None, key_id: str | None, ip: str | None = None,
               route: str | None = None) -> list[tuple[str, str]]:
        """The (scope, caller) pairs limiting one request, in checking order."""
        out = []
        for scope, who in (("key", key_id), ("user", user), ("ip", ip), ("route", route),
                           ("global", GLOBAL)):
            if who is not None and self.limits_of(scope, who) is not None:
                out.append((scope, who))
        return out

    def check(self, user: str | None, key_id: str | None, est_tokens: int = 0, *,
              ip: str | None = None, route: str | None = None) -> QuotaDecision:
        """Admit (and count toward rpm) or refuse a request, key limits first."""
        now = self.clock.monotonic()
        day = _utc_day(self.clock.now())
        states = []
        for scope, who in self.scopes(user, key_id, ip, route):
            st = self._state(scope, who)
            refusal = self._refusal(scope, who, st, now, day, est_tokens)
            if refusal is not None:
                return refusal
            states.append(st)
        for st in states:
            if st.rpm is not None:
                st.rpm.take(now, 1)
        return QUOTA_OK

    def record(self, user: str | None, key_id: str | None, tokens: int, cost_nano: int, *,
               ip: str | None = None, route: str | None = None) -> None:
        """Count what a finished request used."""
        if not tokens and not cost_nano:
            return
        now = self.clock.monotonic()
        day = _utc_day(self.clock.now())
        for scope, who in self.scopes(user, key_id, ip, route):
            st = self._state(scope, who)
            if st.tpm is not None and tokens:
                st.tpm.take(now, tokens)
            if cost_nano:
                if st.day != day:
                    st.day, st.spent_nano = day, 0
                st.spent_nano += cost_nano

    def remaining(self, user: str | None, key_id: str | None, *, ip: str | None = None,
                  route: str | None = None) -> RateLimitInfo:
        """The tightest request and token limits for this caller, for x-ratelimit-*
        headers (resets: seconds until the window is full). Empty when unlimited."""
        now = self.clock.monotonic()
        info = RateLimitInfo()
        for scope, who in self.scopes(user, key_id, ip, route):
            st = self._callers.get((scope, who)) or _CallerState(self.limits_of(scope, who))
            if st.rpm is not None:
                left = st.rpm.remaining(now)
                if info.remaining_requests is None or left < info.remaining_requests:
                    info.limit_requests = st.rpm.limit
                    info.remaining_requests = left
                    info.reset_requests_s = st.rpm.reset_s(now)
            if st.tpm is not None:
                left = st.tpm.remaining(now)
                if info.remaining_tokens is None or left < info.remaining_tokens:
                    info.limit_tokens = st.tpm.limit
                    info.remaining_tokens = left
                    info.reset_tokens_s = st.tpm.reset_s(now)
        return info

    # -- operators (`axtui ratelimit status|reset` through the admin API)

    def status(self, scope: str, who: str) -> dict | None:
        """Where one caller's quotas stand (None: no quota of that scope applies to it)."""
        lim = self.limits_of(scope, who)
        if lim is None:
            return None
        now = self.clock.monotonic()
        st = self._callers.get((scope, who)) or _CallerState(lim)
        return quota_status(scope, who, lim,
                            _window_status(st.rpm, now), _window_status(st.tpm, now),
                            st.spent_today(_utc_day(self.clock.now())))

    def reset(self, scope: str, who: str) -> bool:
        """Forget one caller's counters (its windows full, nothing spent today): whether
        anything was counted."""
        return self._forget((scope, who))

    def report(self, *, shared: bool = False, note: str | None = None) -> dict:
        """Every configured quota scope with the limits and where its callers stand, for
        the heartbeat (the console's quotas screen): see `quota_report`. Cheap enough for
        the event loop: it reads the most recently seen callers only."""
        now = self.clock.monotonic()
        day = _utc_day(self.clock.now())
        seen = recent_callers(reversed(self._callers))

        def usage(scope: str, who: str) -> dict:
            lim = self.limits_of(scope, who)
            st = self._callers.get((scope, who)) or _CallerState(lim)
            return caller_usage(
                who,
                None if st.rpm is None else (st.rpm.limit, st.rpm.used(now)),
                None if st.tpm is None else (st.tpm.limit, st.tpm.used(now)),
                self.spend_limit_nano(scope, who), st.spent_today(day))

        return quota_report(self, seen, self._counts, usage, shared=shared, note=note)

    # -- internals

    def _refusal(
        self, scope: str, who: str, st: _CallerState, now: float, day: int, est_tokens: int
    ) -> QuotaDecision | None:
        label = scope_label(scope, who)
        if st.rpm is not None and not st.rpm.fits(now, 1):
            return QuotaDecision(
                False,
                f"{label} rate limit: {st.rpm.limit} requests per minute",
                st.rpm.wait_s(now, 1),
                scope,
            )
        if st.tpm is not None:
            if est_tokens > st.tpm.limit:
                return QuotaDecision(
                    False,
                    f"request needs ~{est_tokens} tokens, above the {label} limit of "
                    f"{st.tpm.limit} tokens per minute",
                    None,
                    scope,
                )
            if not st.tpm.fits(now, est_tokens):
                return QuotaDecision(
                    False,
                    f"{label} token limit: {st.tpm.limit} tokens per minute",
                    st.tpm.wait_s(now, est_tokens),
                    scope,
                )
        lim = self.limits_of(scope, who)
        limit = self.spend_limit_nano(scope, who)
        if limit is not None and st.spent_today(day) >= limit:
            return QuotaDecision(
                False,
                f"{label} daily spend limit reached (${lim.spend_day_usd})",
                _seconds_to_utc_midnight(self.clock.now()),
                scope,
            )
        return None

    def _state(self, scope: str, who: str) -> _CallerState:
        key = (scope, who)
        st = self._callers.get(key)
        if st is not None:
            self._callers.move_to_end(key)
            return st
        self._maybe_sweep()
        st = _CallerState(self.limits_of(scope, who))
        self._callers[key] = st
        self._counts[scope] += 1
        if len(self._callers) > self.max_callers:
            gone, _ = self._callers.popitem(last=False)  # the least recently seen caller
            self._counts[gone[0]] -= 1
        return st

    def _maybe_sweep(self) -> None:
        """Forget callers whose windows are full again and who spent nothing today, from
        the least recently seen on; stops at the first one still counted."""
        now = self.clock.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.SWEEP_EVERY_S
        day = _utc_day(self.clock.now())
        while self._callers:
            key, st = next(iter(self._callers.items()))
            if not st.idle(now, day):
                break
            self._forget(key)

    def _forget(self, key: tuple[str, str]) -> bool:
        """Stop tracking one caller: whether it was tracked."""
        if self._callers.pop(key, None) is None:
            return False
        self._counts[key[0]] -= 1
        return True


def _window_status(w: RateWindow | None, now: float) -> tuple[int, float, float] | None:
    """(limit, used, seconds until full) of one window."""
    return None if w is None else (w.limit, w.used(now), w.reset_s(now))


def quota_status(scope: str, who: str, lim: QuotaLimits,
                 rpm: tuple[int, float, float] | None, tpm: tuple[int, float, float] | None,
                 spent_nano: int) -> dict:
    """One caller's quotas as `axtui ratelimit status --json` shows them (in-process and
    shared counters alike)."""
    def window(w: tuple[int, float, float] | None) -> dict | None:
        if w is None:
            return None
        limit, used, reset_s = w
        return {**window_figures(limit, used), "reset_s": round(reset_s, 3)}

    spend = None
    if lim.spend_day_usd is not None:
        spend = {"limit_usd": str(lim.spend_day_usd),
                 "spent_usd": str(Decimal(spent_nano) / NANO_PER_USD)}
    return {"scope": scope, "who": who, "rpm": window(rpm), "tpm": window(tpm),
            "spend_day": spend}


REPORT_TOP = 5  # the busiest callers a report shows per scope
REPORT_CANDIDATES = 20  # of this many most recently seen per scope
REPORT_SCAN = 5_000  # most recently seen callers looked at for them
CALLER_SCOPES = ("key", "user", "ip")  # the scopes with many callers each


def recent_callers(newest_first: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """From (scope, caller) pairs, newest first: up to REPORT_CANDIDATES recent callers per
    scope of many callers, among the REPORT_SCAN newest (the event loop reads them)."""
    seen: dict[str, list[str]] = {s: [] for s in CALLER_SCOPES}
    for scope, who in islice(newest_first, REPORT_SCAN):
        if scope in seen and len(seen[scope]) < REPORT_CANDIDATES:
            seen[scope].append(who)
    return seen


def caller_usage(who: str, rpm: tuple[int, float] | None, tpm: tuple[int, float] | None,
                 spend_limit_nano: int | None, spent_nano: int) -> dict:
    """One caller's figures in a quota report: per window its limit, what is counted and
    the whole units left (`window_left`); its spend today against its daily limit."""
    spend = None
    if spend_limit_nano is not None:
        spend = {"limit_nano": spend_limit_nano, "spent_nano": spent_nano,
                 "remaining_nano": max(0, spend_limit_nano - spent_nano)}
    return {"who": who, "rpm": None if rpm is None else window_figures(*rpm),
            "tpm": None if tpm is None else window_figures(*tpm), "spend": spend}


def _busiest(use: dict) -> float:
    """The largest share of any of a caller's limits that is used."""
    shares = [w["used"] / w["limit"] for w in (use["rpm"], use["tpm"]) if w]
    if use["spend"] and use["spend"]["limit_nano"]:
        shares.append(use["spend"]["spent_nano"] / use["spend"]["limit_nano"])
    return max(shares, default=0.0)


def report_pairs(quotas: CallerQuotas, seen: Mapping[str, list[str]]
                 ) -> list[tuple[str, str]]:
    """The (scope, caller) pairs a report shows figures for: the recently seen callers of
    each limited scope of many callers, every limited route, and the global scope."""
    pairs = [(scope, who) for scope in CALLER_SCOPES
             if quotas.limits_of(scope, "") is not None for who in seen.get(scope, ())]
    pairs += [("route", r) for r in sorted(quotas.per_route)]
    if quotas.limits_of("global", GLOBAL) is not None:
        pairs.append(("global", GLOBAL))
    return pairs


def quota_report(quotas: CallerQuotas, seen: Mapping[str, list[str]],
                 counts: Mapping[str, int], usage: Callable[[str, str], dict], *,
                 shared: bool, note: str | None = None) -> dict:
    """`{"shared", "note", "scopes": [...]}`: one entry per limited scope, in checking
    order (key, user, ip, each route, global), with its configured limits, how many callers
    it counts (None: the scope has one) and the figures of its busiest callers (a route's
    or the global scope's one). `shared`: the figures are the fleet's (Redis), else this
    process's own."""
    scopes = []
    figures = {pair: usage(*pair) for pair in report_pairs(quotas, seen)}

    def entry(scope: str, who: str | None, lim: QuotaLimits, callers: int | None,
              rows: list[dict]) -> dict:
        return {"scope": scope, "who": who, "rpm": lim.rpm, "tpm": lim.tpm,
                "spend_day_usd": None if lim.spend_day_usd is None else str(lim.spend_day_usd),
                "callers": callers, "top": rows}

    for scope in CALLER_SCOPES:
        lim = quotas.limits_of(scope, "")
        if lim is None:
            continue
        rows = sorted((figures[(scope, w)] for w in seen.get(scope, ())),
                      key=lambda u: (-_busiest(u), u["who"]))[:REPORT_TOP]
        scopes.append(entry(scope, None, lim, counts.get(scope, 0), rows))
    for route, lim in sorted(quotas.per_route.items()):
        scopes.append(entry("route", route, lim, None, [figures[("route", route)]]))
    if (lim := quotas.limits_of("global", GLOBAL)) is not None:
        scopes.append(entry("global", GLOBAL, lim, None, [figures[("global", GLOBAL)]]))
    return {"shared": shared, "note": note, "scopes": scopes}


def window_figures(limit: int, used: float) -> dict:
    """A rate window as status and reports show it: its limit, what is counted, and the
    whole units left (`window_left`)."""
    return {"limit": limit, "used": round(used, 3), "remaining": window_left(limit, used)}


def window_left(limit: int, used: float) -> int:
    """Whole units still admitted by a window of `limit` with `used` counted: the floor of
    limit - used (what `fits` admits one by one), never negative (a window in debt), never
    above the limit."""
    return max(0, min(limit, math.floor(limit - used + limit * _EPS)))


def _limited(limits: QuotaLimits) -> bool:
    return bool(limits.rpm or limits.tpm or limits.spend_day_usd is not None)


def _utc_day(wall: float) -> int:
    return int(wall // DAY)  # Unix time has no leap seconds: days start at UTC midnight


def _seconds_to_utc_midnight(wall: float) -> float:
    return (_utc_day(wall) + 1) * DAY - wall


def carried_window(old: RateWindow | None, limit: int | None, period_s: float,
                   now: float) -> RateWindow | None:
    """A window with a new limit that keeps what the old one had counted (a config reload:
    a caller's requests this minute still count against the new quota)."""
    if not limit:
        return None
    window = RateWindow(limit, period_s)
    if old is not None and (used := old.used(now)) > 0:
        window.take(now, used)
    return window
