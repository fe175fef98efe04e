"""A deployment's headroom shared by a fleet: its configured rpm/tpm (and a free tier's day
windows) count every process's requests, and a 429's cooldown holds for all of them.

The decisions stay local and sync (`has_room` runs per candidate per request), and so
does the accounting: `consume` and `adjust` count here at once and their shared takes are
deferred (they ride with the next call, a caller's admit, or the poll), so a request pays
no round trip for headroom. The poll brings in the fleet's counts and cooldowns: a
process's view is behind by at most one poll (`poll_s`), and the fleet can overshoot a
deployment's rpm by what the others send in one poll. Headroom only orders deployments;
the upstream's own 429 is the word that stops them (shared as a cooldown at once). What the upstream's headers say (`learn`)
stays per process: it is already the upstream's count for the whole fleet.
"""

from __future__ import annotations

from axtui.clock import Clock
from axtui.engine.limits import DEFAULT_LEARNED_S, Headroom, RateWindow
from axtui.fleet.link import RedisLink, Unavailable

# KEYS: one per window. ARGV: now, then per window limit, period, cost (negative: give
# back). Returns every window's tat after the take.
TAKE = """
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local limit, period, cost = tonumber(ARGV[i*3-1]), tonumber(ARGV[i*3]), tonumber(ARGV[i*3+1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  tat = tat + cost * period / limit
  if tat > now then
    redis.call('SET', KEYS[i], string.format('%.6f', tat), 'PX',
               math.ceil((tat - now) * 1000) + 1000)
  else
    redis.call('DEL', KEYS[i])
  end
  out[i] = string.format('%.6f', tat)
end
return out
"""

# KEYS[1]: a cooldown. ARGV: until (wall), ttl ms. Keeps the later of the two.
COOL = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > old then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""


class SharedHeadroom(Headroom):
    """Headroom whose windows and cooldown are the fleet's (see the module docstring)."""

    __slots__ = ("link", "deployment", "window_keys", "cool_key", "_take", "_cool", "_owed",
                 "fleet_cooldowns", "unshared")

    def __init__(self, link: RedisLink, deployment: str, clock: Clock, *,
                 rpm: int | None = None, tpm: int | None = None, rpd: int | None = None,
                 tpd: int | None = None, learned_s: float = DEFAULT_LEARNED_S) -> None:
        super().__init__(clock, rpm=rpm, tpm=tpm, rpd=rpd, tpd=tpd, learned_s=learned_s)
        self.link = link
        self.deployment = deployment
        names = [f"{'req' if i < len(self._req_windows) else 'tok'}:{int(w.limit)}:"
                 f"{int(w.period_s)}" for i, w in enumerate(self.windows)]
        self.window_keys = [link.key("room", deployment, n) for n in names]
        self.cool_key = link.key("cool", deployment)
        self._take = link.script(TAKE)
        self._cool = link.script(COOL)
        self._owed = [0.0] * len(self.window_keys)  # units counted while Redis was away
        self.fleet_cooldowns = 0  # cooldowns this process took from another's 429
        self.unshared = 0  # cooldowns not written: Redis was away

    @classmethod
    def like(cls, link: RedisLink, deployment: str, local: Headroom) -> SharedHeadroom:
        """The shared twin of an engine's Headroom (same windows and settings)."""
        by_period = {("req", w.period_s): w.limit for w in local._req_windows}
        by_period |= {("tok", w.period_s): w.limit for w in local._tok_windows}
        return cls(link, deployment, local.clock, rpm=by_period.get(("req", 60.0)),
                   tpm=by_period.get(("tok", 60.0)), rpd=by_period.get(("req", 86_400.0)),
                   tpd=by_period.get(("tok", 86_400.0)), learned_s=local.learned_s)

    @property
    def windows(self) -> tuple[RateWindow, ...]:
        return self._req_windows + self._tok_windows

    # -- accounting: local first (the fallback), then the fleet's count back

    def consume(self, tokens: int = 0) -> None:
        super().consume(tokens)
        if self.window_keys:
            self._add([1.0] * len(self._req_windows) + [float(tokens)] * len(self._tok_windows),
                      defer=True)

    def adjust(self, delta_tokens: int) -> None:
        super().adjust(delta_tokens)
        if delta_tokens and self._tok_windows:
            self._add([0.0] * len(self._req_windows)
                      + [float(delta_tokens)] * len(self._tok_windows), defer=True)

    def cooldown(self, retry_after_s: float | None) -> None:
        super().cooldown(retry_after_s)
        until_mono = self._cooldown_until
        wait = until_mono - self.clock.monotonic()
        if wait <= 0:
            return
        until = self.clock.now() + wait
        try:
            self.link.run(self._cool, [self.cool_key], [repr(until), int(wait * 1000) + 1])
        except Unavailable:
            self.unshared += 1  # the others learn of it from their own 429s meanwhile

    def _add(self, costs: list[float], *, raw: bool = False, defer: bool = False) -> None:
        now = self.clock.now()
        args: list[str | float | int] = [repr(now)]
        for w, cost in zip(self.windows, costs, strict=True):
            args += [w.limit, w.period_s, cost]

        def owe() -> None:
            self._owed = [o + c for o, c in zip(self._owed, costs, strict=True)]

        if defer:  # a correction nobody waits for: the next call or poll carries it
            self.link.defer(self._take, self.window_keys, args, owe)
            return
        try:
            tats = (self._take(keys=self.window_keys, args=args, client=self.link.client) if raw
                    else self.link.run(self._take, self.window_keys, args))
        except Unavailable:
            owe()
            return
        self.adopt_windows([float(t) for t in tats], now)

    # -- the fleet's view in

    def adopt_windows(self, tats: list[float | None], now: float) -> None:
        """Set each window to the fleet's count (wall-time tats; None: the key is gone,
        idle or lost with a restarted Redis, and the local count stands)."""
        offset = now - self.clock.monotonic()
        for w, tat in zip(self.windows, tats, strict=True):
            if tat is not None:
                w._tat = tat - offset

    def adopt_cooldown(self, until: float | None, now: float) -> None:
        """Another process's 429 cooldown (wall time), when it ends later than ours."""
        if until is None or until <= now:
            return
        until_mono = until - (now - self.clock.monotonic())
        if until_mono > self._cooldown_until + 1e-3:
            self._cooldown_until = until_mono
            self.fleet_cooldowns += 1

    def catch_up(self) -> None:
        """Add what was sent while Redis was away (raises when Redis went again)."""
        owed = self._owed
        if not any(owed):
            return
        self._owed = [0.0] * len(owed)
        try:
            self._add(owed, raw=True)
        except BaseException:
            self._owed = [o + c for o, c in zip(self._owed, owed, strict=True)]
            raise
