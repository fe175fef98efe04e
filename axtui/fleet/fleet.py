"""`[redis]` on an engine: its caller quotas, headrooms, breaker trips and 429 cooldowns,
and its response cache become the fleet's. `attach(engine, cfg)` swaps them in by their
interfaces (the engine itself knows nothing of Redis); the runtime host calls `poll()`
every `poll_s` and `aclose()` at stop.

    fleet = attach(engine, config.redis, origin=process_id)
    await fleet.poll()          # the others' trips, cooldowns and counts; reconnects
    fleet.status()              # for /readyz and the heartbeat
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

from axtui.fleet.breakers import SharedBreakers
from axtui.fleet.headroom import SharedHeadroom
from axtui.fleet.link import RedisLink, Unavailable
from axtui.fleet.quotas import SharedQuotas

if TYPE_CHECKING:
    from axtui.config import RedisConfig
    from axtui.engine.engine import Engine

log = logging.getLogger(__name__)


class Fleet:
    def __init__(self, engine: Engine, cfg: RedisConfig, url: str, origin: str) -> None:
        self.engine = engine
        self.cfg = cfg
        self.origin = origin
        self.link = link = RedisLink(url, prefix=cfg.prefix, timeout_s=cfg.timeout_s,
                                     max_backoff_s=cfg.max_backoff_s,
                                     on_change=self._on_link_change)
        # the caller quotas' scripts also count the gateway's keys (share_keys)
        self.counters = SharedQuotas(link, engine.clock, engine.quotas, origin)
        self.quotas: SharedQuotas | None = None
        if engine.quotas.enabled:
            self.quotas = self.counters
            engine.quotas = engine.outcomes.quotas = self.quotas  # type: ignore[assignment]
        self.headrooms: dict[str, SharedHeadroom] = {}
        for dep, st in engine.deployments.items():
            shared = SharedHeadroom.like(link, dep, st.headroom)
            st.headroom = self.headrooms[dep] = shared
            link.on_reconnect(shared.catch_up)
        self.breakers = SharedBreakers(link, engine.clock, origin)
        engine.on_event(self._on_engine_event)
        if engine.cache is not None:
            from axtui.fleet.cache import RedisBackend

            for name, rc in engine.cache.routes.items():
                if rc.cfg.backend == "memory":
                    continue
                rc.backend = RedisBackend(link, engine.clock, route=name,
                                          max_entries=rc.cfg.max_entries,
                                          max_bytes=int(rc.cfg.max_mib * 1024 * 1024),
                                          local=rc.backend)
        self.polls = 0
        self.poll_errors = 0

    def share_keys(self, ring):  # noqa: ANN001, ANN201 - a gateway KeyRing, made shared
        """The gateway's caller keys' rpm, tpm and daily budget, counted by the fleet."""
        from axtui.fleet.keys import SharedKeyRing

        return SharedKeyRing.share(ring, self.counters)

    # -- events

    def _on_link_change(self, up: bool, detail: dict) -> None:
        detail = {**detail, "level": "info" if up else "warning", "origin": self.origin,
                  "summary": ("shared counters again" if up else
                              "unreachable: quotas, headroom and breakers count in this process")}
        self.engine._emit_event("redis", detail["url"], detail)

    def _on_engine_event(self, kind: str, subject: str, detail: dict) -> None:
        if kind == "breaker" and detail.get("to") == "open":
            st = self.engine.deployments.get(subject)
            if st is not None:
                self.breakers.publish(subject, st.breaker, detail.get("reason", ""))

    # -- the poll

    async def poll(self, now: float | None = None) -> bool:
        """Read the fleet's breaker opens, cooldowns and headroom counts (one MGET) and
        apply them here; while Redis is down this is the reconnect probe. False: no read."""
        link = self.link
        if not link.usable():  # probes (and catches up) once the backoff has passed
            return False
        link.flush()  # an idle process's deferred writes reach the others
        deps = list(self.engine.deployments)
        keys: list[str] = []
        for dep in deps:
            h = self.headrooms[dep]
            keys += [self.breakers.key(dep), h.cool_key, *h.window_keys]
        try:
            values = await link.acall(lambda c: c.mget(keys))
        except Unavailable:
            self.poll_errors += 1
            return False
        self.polls += 1
        clock_now = self.engine.clock.now()
        i = 0
        for dep in deps:
            st, h = self.engine.deployments[dep], self.headrooms[dep]
            self.breakers.adopt(dep, st.breaker, values[i])
            h.adopt_cooldown(float(values[i + 1]) if values[i + 1] is not None else None,
                             clock_now)
            n = len(h.window_keys)
            h.adopt_windows([float(v) if v is not None else None
                             for v in values[i + 2:i + 2 + n]], clock_now)
            i += 2 + n
        return True

    # -- reading

    def status(self) -> dict:
        s = self.link.status()
        s["local_quota_decisions"] = self.counters.local_decisions
        s["breakers_published"] = self.breakers.published
        s["breakers_adopted"] = self.breakers.adopted
        return s

    def problem(self) -> str | None:
        """One line for /readyz while Redis is down (the process still serves)."""
        if self.link.up:
            return None
        return (f"redis {self.link.shown_url} down: counting in this process "
                f"({self.link.last_error})")

    async def aclose(self) -> None:
        await self.link.aclose()


def attach(engine: Engine, cfg: RedisConfig, origin: str | None = None) -> Fleet | None:
    """Share `engine`'s counters through Redis when `[redis]` has a url (None otherwise)."""
    url = cfg.resolved_url()
    if not url:
        return None
    origin = origin or f"{socket.gethostname()}-{os.getpid()}"
    return Fleet(engine, cfg, url, origin)
