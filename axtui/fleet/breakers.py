"""Breaker trips shared by a fleet: when one process's breaker opens (on faults, or a 429's
cooldown), it writes the open state to Redis until it ends; every other process's poll
opens its own breaker for the same time. Each process still counts its own failures and
runs its own half-open trials: what is shared is the verdict "out until T"."""

from __future__ import annotations

import json
import logging

from axtui.clock import Clock
from axtui.engine.health import BreakerState, CircuitBreaker
from axtui.fleet.link import RedisLink, Unavailable

log = logging.getLogger(__name__)

FLEET_REASON = "fleet: "  # an adopted trip: never written back

# KEYS[1]: the deployment's open state. ARGV: until (wall), ttl ms, the JSON. Keeps the
# later of two opens.
OPEN = """
local old = redis.call('GET', KEYS[1])
if old then
  local ok, o = pcall(cjson.decode, old)
  if ok and tonumber(o['until']) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
return 1
"""


class SharedBreakers:
    """Publishes this process's opens; adopts the others' (`adopt` with what poll read)."""

    def __init__(self, link: RedisLink, clock: Clock, origin: str) -> None:
        self.link = link
        self.clock = clock
        self.origin = origin
        self._open = link.script(OPEN)
        self.published = 0
        self.adopted = 0
        self.unshared = 0  # opens not written: Redis was away

    def key(self, deployment: str) -> str:
        return self.link.key("brk", deployment)

    def publish(self, deployment: str, breaker: CircuitBreaker, reason: str) -> None:
        """The engine's breaker listener: a local breaker just opened."""
        if reason.startswith(FLEET_REASON):
            return
        until = breaker.open_until
        now = self.clock.now()
        if until is None or until <= now:
            return
        state = json.dumps({"until": until, "resume": str(breaker._resume),
                            "origin": self.origin, "reason": reason})
        try:
            self.link.run(self._open, [self.key(deployment)],
                          [repr(until), int((until - now) * 1000) + 1, state])
            self.published += 1
        except Unavailable:
            self.unshared += 1  # the others trip on their own failures meanwhile

    def adopt(self, deployment: str, breaker: CircuitBreaker, raw: bytes | None) -> bool:
        """Open `breaker` as another process's breaker is, unless it already is for as long."""
        if raw is None:
            return False
        try:
            o = json.loads(raw)
            until, resume, origin = float(o["until"]), BreakerState(o["resume"]), o["origin"]
        except (ValueError, KeyError, TypeError) as e:
            log.warning("unreadable shared breaker state for %s: %s", deployment, e)
            return False
        now = self.clock.now()
        if origin == self.origin or until <= now:
            return False
        mine = breaker.open_until
        if mine is not None and mine >= until - 1e-3:
            return False
        until_mono = until - (now - self.clock.monotonic())
        # the breaker's own transition: its event, history and callback say where it came from
        breaker._open(until_mono, resume, f"{FLEET_REASON}{o.get('reason', '')} ({origin})")
        self.adopted += 1
        return True
