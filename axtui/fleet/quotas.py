"""Caller quotas shared by every process of a fleet: the same GCRA as engine/limits.py's
RateWindow, kept in Redis and run by Lua scripts, so each admit is one atomic round trip
(all of a request's scopes at once: nobody can slip between the check and the take).

Why our own scripts and not the `limits` library's Redis storage: `limits` reads wall time
itself (our tests drive time with the VirtualClock), counts fixed or moving windows rather
than the GCRA the in-process quotas use, and has no post-paid take (tokens and spend are
known after the answer and may run into debt). Times are the engine clock's wall time, so
a fleet's machines need synchronised clocks (NTP: milliseconds against a minute window).

While Redis is away the in-process CallerQuotas decide, and what they admit is kept in a
ledger that is added to the shared counters when Redis returns.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass

from axtui.clock import Clock
from axtui.engine.limits import (
    DAY,
    MINUTE,
    QUOTA_OK,
    CallerQuotas,
    QuotaDecision,
    _seconds_to_utc_midnight,
    _utc_day,
    caller_usage,
    quota_report,
    quota_status,
    recent_callers,
    report_pairs,
    scope_label,
    window_left,
)
from axtui.fleet.link import RedisLink, Unavailable
from axtui.providers.base import RateLimitInfo

log = logging.getLogger(__name__)

# The scripts count in `ahead`: how far a window's TAT is past now, in seconds. A TAT is
# kept as whole seconds and their fraction ("1767225608.571428571429"), and `now` is split
# the same way, so the arithmetic runs on small numbers: doubles of Unix time itself hold
# only ~0.24 us, and adding a limit's interval to one rounded the same way every time (a
# burst of 7 at one instant admitted 6; of 100000, 16 too many or too few).
# TOL: a request fits when it overshoots the window by at most a microsecond.
_GCRA = """
local PERIOD = 60
local TOL = 1e-6
local NW, NF = 0, 0
local function fmt(x) return string.format('%.17g', x) end
local function split(s)
  local dot = string.find(s, '.', 1, true)
  if not dot then return tonumber(s), 0 end
  return tonumber(string.sub(s, 1, dot - 1)), tonumber('0' .. string.sub(s, dot))
end
local function ahead_of(key)
  local v = redis.call('GET', key)
  if not v then return 0 end
  local w, f = split(v)
  local a = (w - NW) + (f - NF)
  if a > 0 then return a end
  return 0
end
local function tat_str(ahead)
  local t = NF + ahead
  local w = math.floor(t)
  local f = string.format('%.12f', t - w)
  if string.sub(f, 1, 1) == '1' then w = w + 1; f = '0.000000000000' end
  return string.format('%.0f', NW + w) .. string.sub(f, 2)
end
local function put(key, ahead)
  redis.call('SET', key, tat_str(ahead), 'PX', math.ceil(ahead * 1000) + 1000)
end
"""

# KEYS: per scope rpm, tpm, spend. ARGV: now, est_tokens, per scope rpm, tpm, spend limits
# (0 / -1: none). Returns {1, rpm tat, tpm tat, ...} or {0, scope index, what, wait}.
CHECK = _GCRA + """
NW, NF = split(ARGV[1])
local est = tonumber(ARGV[2])
local n = #KEYS / 3
local aheads = {}
for i = 0, n - 1 do
  local rl, tl, sl = tonumber(ARGV[3 + i*3]), tonumber(ARGV[4 + i*3]), tonumber(ARGV[5 + i*3])
  local ra, ta = 0, 0
  if rl > 0 then
    ra = ahead_of(KEYS[1 + i*3])
    local over = ra + PERIOD / rl - PERIOD
    if over > TOL then return {0, i, 'rpm', fmt(over)} end
  end
  if tl > 0 then
    ta = ahead_of(KEYS[2 + i*3])
    if est > tl then return {0, i, 'tpm_big', '-1'} end
    local over = ta + est * PERIOD / tl - PERIOD
    if over > TOL then return {0, i, 'tpm', fmt(over)} end
  end
  if sl >= 0 then
    local spent = 0
    for _, v in ipairs(redis.call('HVALS', KEYS[3 + i*3])) do spent = spent + tonumber(v) end
    if spent >= sl then return {0, i, 'spend', '-1'} end
  end
  aheads[i] = {ra, ta}
end
local out = {1}
for i = 0, n - 1 do
  local rl = tonumber(ARGV[3 + i*3])
  local ra = aheads[i][1]
  if rl > 0 then
    ra = ra + PERIOD / rl
    put(KEYS[1 + i*3], ra)
  end
  out[#out + 1] = tat_str(ra)
  out[#out + 1] = tat_str(aheads[i][2])
end
return out
"""

# KEYS: per scope rpm, tpm, spend. ARGV: now, requests, tokens, cost_nano, spend ttl ms,
# origin, per scope rpm and tpm limits (0: none). Counts what was used (post-paid: may run
# into debt). Spend is a hash of each process's own total: see SYNC_SPEND.
RECORD = _GCRA + """
NW, NF = split(ARGV[1])
local reqs, tokens, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local rl, tl = tonumber(ARGV[7 + i*2]), tonumber(ARGV[8 + i*2])
  local ra, ta = 0, 0
  if rl > 0 then
    ra = ahead_of(KEYS[1 + i*3])
    if reqs > 0 then ra = ra + reqs * PERIOD / rl; put(KEYS[1 + i*3], ra) end
  end
  if tl > 0 then
    ta = ahead_of(KEYS[2 + i*3])
    if tokens > 0 then ta = ta + tokens * PERIOD / tl; put(KEYS[2 + i*3], ta) end
  end
  if cost > 0 then
    redis.call('HINCRBY', KEYS[3 + i*3], ARGV[6], cost)
    redis.call('PEXPIRE', KEYS[3 + i*3], ARGV[5])
  end
  out[#out + 1] = tat_str(ra)
  out[#out + 1] = tat_str(ta)
end
return out
"""

# KEYS[1]: a caller's spend of one day. ARGV: origin, this process's total, ttl ms. A
# Redis that lost its data (restarted without persistence) gets each process's total back.
SYNC_SPEND = """
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > mine then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

_SPEND_TTL_MS = int(2 * DAY * 1000)
_TOL_S = 1e-6  # the scripts' TOL (a TAT read back as one float is within 0.24 us)


def _stamp(now: float) -> str:
    """`now` for the scripts: fixed-point, as they split it into seconds and fraction."""
    return f"{now:.9f}"


def shared_used(limit: int, tat: float, now: float) -> tuple[float, float]:
    """(units counted, seconds until full) of a shared window of `limit` per minute whose
    TAT is `tat`: counted as CHECK counts it (rounding of the kept TAT forgiven), so
    `window_left(limit, used)` is how many more requests CHECK admits now."""
    ahead = max(0.0, tat - now)
    return max(0.0, ahead - _TOL_S) * limit / MINUTE, ahead


RING = "gwkey"  # the gateway's caller keys' own limits ([[keys]] rpm, tpm, budget_day_usd)
_TATS_KEPT = 10_000


@dataclass(slots=True)
class _Owed:
    """What this process admitted and counted while Redis was away."""

    requests: int = 0
    tokens: int = 0
    day: int = -1


class SharedQuotas:
    """CallerQuotas' interface (enabled, check, record, remaining) over Redis."""

    def __init__(self, link: RedisLink, clock: Clock, local: CallerQuotas, origin: str) -> None:
        self.link = link
        self.origin = origin
        self.clock = clock
        self.local = local  # decides while Redis is away
        self._check = link.script(CHECK)
        self._record = link.script(RECORD)
        self._sync_spend = link.script(SYNC_SPEND)
        self._tats: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._owed: dict[tuple[str, str], _Owed] = {}
        # this process's own spend today per caller: what it writes back to a Redis that
        # lost it (least recently spending callers dropped past _TATS_KEPT)
        self._spent: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()
        self.local_decisions = 0  # admits decided in this process while Redis was away
        self._ring: dict[str, tuple[int, int, int | None]] = {}  # gateway key id -> limits
        link.on_reconnect(self.catch_up)

    @property
    def enabled(self) -> bool:
        return self.local.enabled

    def __len__(self) -> int:
        return len(self._tats)

    def _limits_of(self, scope: str, who: str) -> tuple[int, int, int | None]:
        """(rpm, tpm, spend nano) of one caller; 0 / None: no such limit."""
        if scope == RING:
            return self._ring[who]
        lim = self.local.limits_of(scope, who)
        if lim is None:
            return 0, 0, None
        return lim.rpm or 0, lim.tpm or 0, self.local.spend_limit_nano(scope, who)

    def _keys(self, scope: str, who: str, day: int) -> list[str]:
        k = self.link.key
        return [k("q", scope, who, "rpm"), k("q", scope, who, "tpm"),
                k("q", scope, who, "spend", str(day))]

    # -- the interface

    def check(self, user: str | None, key_id: str | None, est_tokens: int = 0, *,
              ip: str | None = None, route: str | None = None) -> QuotaDecision:
        scopes = self.local.scopes(user, key_id, ip, route)
        if not scopes:
            return QUOTA_OK
        now = self.clock.now()
        day = _utc_day(now)
        keys: list[str] = []
        args: list[float | int | str] = [_stamp(now), est_tokens]
        for scope, who in scopes:
            keys += self._keys(scope, who, day)
            rpm, tpm, spend = self._limits_of(scope, who)
            args += [rpm, tpm, -1 if spend is None else spend]
        try:
            out = self.link.run(self._check, keys, args)
        except Unavailable:
            return self._check_locally(scopes, user, key_id, est_tokens, ip, route)
        if int(out[0]) == 1:
            for i, sw in enumerate(scopes):
                self._remember(sw, float(out[1 + 2 * i]), float(out[2 + 2 * i]))
            return QUOTA_OK
        sw, what, wait = scopes[int(out[1])], out[2].decode(), float(out[3])
        self._remember_refusal(sw, what, wait, now, self._limits_of(*sw)[0])
        return self._refusal(sw, what, wait, est_tokens, now)

    def record(self, user: str | None, key_id: str | None, tokens: int, cost_nano: int, *,
               ip: str | None = None, route: str | None = None) -> None:
        if not tokens and not cost_nano:
            return
        scopes = self.local.scopes(user, key_id, ip, route)
        if not scopes:
            return
        now = self.clock.now()
        day = _utc_day(now)
        if cost_nano:
            for sw in scopes:
                spent_day, spent = self._spent.pop(sw, (day, 0))
                self._spent[sw] = (day, (spent if spent_day == day else 0) + cost_nano)
            while len(self._spent) > _TATS_KEPT:
                self._spent.popitem(last=False)

        # the in-process quotas count this process's share all along: should Redis go, the
        # day's spend here is not forgotten
        self.local.record(user, key_id, tokens, cost_nano, ip=ip, route=route)

        def lost() -> None:  # Redis was away when it was sent: owe it there
            if tokens:
                for sw in scopes:
                    self._owe(sw, 0, tokens, day)

        keys, args = self._record_call(scopes, now, 0, tokens, cost_nano, day)
        self.link.defer(self._record, keys, args, lost)  # nobody waits for it

    def remaining(self, user: str | None, key_id: str | None, *, ip: str | None = None,
                  route: str | None = None) -> RateLimitInfo:
        """From the counters this process last saw for the caller (its own admit, usually);
        the in-process ones while Redis is away."""
        if not self.link.up:
            return self.local.remaining(user, key_id, ip=ip, route=route)
        now = self.clock.now()
        info = RateLimitInfo()
        for sw in self.local.scopes(user, key_id, ip, route):
            rpm, tpm, _ = self._limits_of(*sw)
            rt, tt = self._tats.get(sw, (now, now))
            for limit, tat, field in ((rpm, rt, "requests"), (tpm, tt, "tokens")):
                if not limit:
                    continue
                used, ahead = shared_used(limit, tat, now)
                left = window_left(limit, used)
                if getattr(info, f"remaining_{field}") is None or left < getattr(
                        info, f"remaining_{field}"):
                    setattr(info, f"limit_{field}", limit)
                    setattr(info, f"remaining_{field}", left)
                    setattr(info, f"reset_{field}_s", ahead)
        return info

    # -- operators (`axtui ratelimit status|reset`: read and write Redis directly)

    def status(self, scope: str, who: str) -> dict | None:
        """Where one caller's shared quotas stand (None: no quota of that scope applies);
        raises Unavailable while Redis is away."""
        lim = self.local.limits_of(scope, who)
        if lim is None:
            return None
        now = self.clock.now()
        rk, tk, sk = self._keys(scope, who, _utc_day(now))
        self.link.flush()  # this process's deferred counts first
        rt, tt, vals = self.link.call(lambda c: (c.get(rk), c.get(tk), c.hvals(sk)))
        spent = sum(int(v) for v in vals)

        def window(limit: int | None, tat: bytes | None):
            if not limit:
                return None
            return limit, *shared_used(limit, float(tat or 0), now)

        return quota_status(scope, who, lim, window(lim.rpm, rt), window(lim.tpm, tt), spent)

    def reset(self, scope: str, who: str) -> bool:
        """Forget one caller's shared counters (and this process's): whether any existed."""
        day = _utc_day(self.clock.now())
        self.local.reset(scope, who)
        self._tats.pop((scope, who), None)
        self._spent.pop((scope, who), None)
        self._owed.pop((scope, who), None)
        self.link.flush()  # counts deferred before the reset must not land after it
        return bool(self.link.call(lambda c: c.delete(*self._keys(scope, who, day))))

    async def report(self) -> dict:
        """The quota report (engine/limits.py `quota_report`) from the fleet's counters, in
        one round trip, for the callers this process saw lately; this process's own counts
        while Redis is away (its note says so)."""
        down = "redis down: this process's own counts"
        if not self.link.up:
            return self.local.report(note=down)
        seen = recent_callers(sw for sw in reversed(self._tats) if sw[0] != RING)
        counts = Counter(scope for scope, _ in self._tats)  # at most _TATS_KEPT
        pairs = report_pairs(self.local, seen)
        now = self.clock.now()
        day = _utc_day(now)
        keys = [self._keys(scope, who, day) for scope, who in pairs]

        async def read(client):  # noqa: ANN001, ANN202
            pipe = client.pipeline(transaction=False)
            for rk, tk, sk in keys:
                pipe.get(rk)
                pipe.get(tk)
                pipe.hvals(sk)
            return await pipe.execute()

        self.link.flush()  # this process's deferred counts first
        try:
            values = await self.link.acall(read) if keys else []
        except Unavailable:
            return self.local.report(note=down)
        read_back = {pair: values[3 * i:3 * i + 3] for i, pair in enumerate(pairs)}

        def usage(scope: str, who: str) -> dict:
            rpm, tpm, spend = self._limits_of(scope, who)
            rt, tt, spent = read_back[(scope, who)]
            return caller_usage(
                who, (rpm, shared_used(rpm, float(rt or 0), now)[0]) if rpm else None,
                (tpm, shared_used(tpm, float(tt or 0), now)[0]) if tpm else None,
                spend, sum(int(v) for v in spent))

        return quota_report(self.local, seen, counts, usage, shared=True)

    # -- the gateway's own keys (fleet/keys.py): limits of their own, one scope

    def check_ring(self, who: str, rpm: int, tpm: int, spend: int | None
                   ) -> tuple[str, float] | None:
        """Admit one request of gateway key `who` (None) or say what refused it and how
        long to wait: ("rpm" | "tpm" | "spend", seconds). Unavailable when Redis is away."""
        self._ring[who] = (rpm, tpm, spend)
        now = self.clock.now()
        keys = self._keys(RING, who, _utc_day(now))
        out = self.link.run(self._check, keys, [_stamp(now), 1, rpm, tpm,
                                                -1 if spend is None else spend])
        if int(out[0]) == 1:
            self._remember((RING, who), float(out[1]), float(out[2]))
            return None
        what, wait = out[2].decode(), float(out[3])
        self._remember_refusal((RING, who), what, wait, now, rpm)
        return what, wait

    def record_ring(self, who: str, tokens: int, cost_nano: int, *, admitted_here: int = 0
                    ) -> None:
        """Count a gateway key's finished request (deferred; owed while Redis is away)."""
        if who not in self._ring:
            return
        now = self.clock.now()
        day = _utc_day(now)
        sw = (RING, who)
        if cost_nano:
            spent_day, spent = self._spent.pop(sw, (day, 0))
            self._spent[sw] = (day, (spent if spent_day == day else 0) + cost_nano)
        keys, args = self._record_call([sw], now, admitted_here, tokens, cost_nano, day)
        self.link.defer(self._record, keys, args,
                        lambda: self._owe(sw, admitted_here, tokens, day))

    def ring_remaining(self, who: str) -> RateLimitInfo | None:
        if who not in self._ring or (RING, who) not in self._tats:
            return None
        rpm, tpm, _ = self._ring[who]
        rt, tt = self._tats[(RING, who)]
        now = self.clock.now()
        info = RateLimitInfo()
        if rpm:
            used, info.reset_requests_s = shared_used(rpm, rt, now)
            info.limit_requests, info.remaining_requests = rpm, window_left(rpm, used)
        if tpm:
            used, info.reset_tokens_s = shared_used(tpm, tt, now)
            info.limit_tokens, info.remaining_tokens = tpm, window_left(tpm, used)
        return info

    # -- Redis away and back

    def catch_up(self) -> None:
        """Add what was counted locally while Redis was away (the link's reconnect hook;
        raises Unavailable when Redis went again, keeping the ledger)."""
        owed, self._owed = self._owed, {}
        now = self.clock.now()
        pushed = 0
        try:
            for sw, o in owed.items():
                keys, args = self._record_call([sw], now, o.requests, o.tokens, 0, o.day)
                self._record(keys=keys, args=args, client=self.link.client)
                pushed += 1
        finally:
            for sw, o in list(owed.items())[pushed:]:  # what was not pushed is owed still
                self._owed.setdefault(sw, o)
        day = _utc_day(now)
        today = [(sw, spent) for sw, (d, spent) in self._spent.items() if d == day]
        pipe = self.link.client.pipeline(transaction=False)
        for (scope, who), spent in today:
            self._sync_spend(keys=[self._keys(scope, who, day)[2]],
                             args=[self.origin, spent, _SPEND_TTL_MS], client=pipe)
        pipe.execute()
        if owed:
            log.info("redis back: added %d callers' local counts to the shared quotas",
                     len(owed))

    def _check_locally(self, scopes, user, key_id, est_tokens, ip, route) -> QuotaDecision:
        self.local_decisions += 1
        decision = self.local.check(user, key_id, est_tokens, ip=ip, route=route)
        if decision.ok:
            day = _utc_day(self.clock.now())
            for scope, who in scopes:
                if self._limits_of(scope, who)[0]:
                    self._owe((scope, who), 1, 0, day)
        return decision

    def _owe(self, sw: tuple[str, str], requests: int, tokens: int, day: int) -> None:
        o = self._owed.setdefault(sw, _Owed(day=day))
        o.requests += requests
        o.tokens += tokens

    def _record_call(self, scopes, now: float, requests: int, tokens: int, cost: int,
                     day: int) -> tuple[list, list]:
        keys: list[str] = []
        args: list[float | int | str] = [_stamp(now), requests, tokens, cost, _SPEND_TTL_MS,
                                         self.origin]
        for scope, who in scopes:
            keys += self._keys(scope, who, day)
            rpm, tpm, _ = self._limits_of(scope, who)
            args += [rpm, tpm]
        return keys, args

    def _remember_refusal(self, sw: tuple[str, str], what: str, wait: float, now: float,
                          rpm: int) -> None:
        """A refusal on rpm says where its window stands (for the headers: none left)."""
        if what == "rpm" and rpm:
            _, tt = self._tats.get(sw, (now, now))
            self._remember(sw, now + MINUTE + wait - MINUTE / rpm, tt)

    def _remember(self, sw: tuple[str, str], rpm_tat: float, tpm_tat: float) -> None:
        self._tats[sw] = (rpm_tat, tpm_tat)
        self._tats.move_to_end(sw)
        if len(self._tats) > _TATS_KEPT:
            self._tats.popitem(last=False)

    def _refusal(self, sw: tuple[str, str], what: str, wait: float, est_tokens: int,
                 now: float) -> QuotaDecision:
        scope, who = sw
        label = scope_label(scope, who)
        rpm, tpm, _ = self._limits_of(scope, who)
        if what == "rpm":
            return QuotaDecision(False, f"{label} rate limit: {rpm} requests per minute", wait,
                                 scope)
        if what == "tpm_big":
            return QuotaDecision(False, f"request needs ~{est_tokens} tokens, above the {label} "
                                 f"limit of {tpm} tokens per minute", None, scope)
        if what == "tpm":
            return QuotaDecision(False, f"{label} token limit: {tpm} tokens per minute", wait,
                                 scope)
        lim = self.local.limits_of(scope, who)
        return QuotaDecision(False, f"{label} daily spend limit reached "
                             f"(${lim.spend_day_usd if lim else '?'})",
                             _seconds_to_utc_midnight(now), scope)
