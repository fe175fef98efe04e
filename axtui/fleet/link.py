"""One process's link to the fleet's Redis: a sync client (the engine's admit and attempt
paths are sync), an async one (the cache and the poll), and whether Redis is usable now.

Redis going away never fails a request: a call that cannot reach it raises `Unavailable`,
the caller falls back to its in-process counters, and the link says `down` (in /readyz,
the heartbeat and one warning event) until a probe (with backoff, real time) finds it
again; then every `on_reconnect` hook pushes what was counted locally meanwhile.

Round trips are what a fleet costs a request, so writes nobody waits for (tokens and spend
counted after an answer, a token estimate corrected) are deferred: they ride ahead of the
next call in one pipeline, or go with the next poll when the process is idle.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

MIN_BACKOFF_S = 0.05
MAX_DEFERRED = 256  # past this many deferred writes, they go at once


class Unavailable(Exception):
    """Redis could not be reached (or answered too late): count locally instead."""


def redact(url: str) -> str:
    """The url without its password (it may reach logs, events and /readyz)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class RedisLink:
    """Clients and the up/down state. `on_change(up, detail)` is told of every change."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "axtui",
        timeout_s: float = 0.1,
        max_backoff_s: float = 5.0,
        on_change: Callable[[bool, dict], None] | None = None,
    ) -> None:
        import redis
        import redis.asyncio as aioredis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.shown_url = redact(url)
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.on_change = on_change
        self.errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        # no client-side retries: a failed call goes local at once, the probe reconnects
        opts: dict[str, Any] = dict(socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                    health_check_interval=0)
        self.client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **opts)
        from redis.asyncio.retry import Retry as AsyncRetry

        self.aclient = aioredis.Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 0), **opts)
        self.up = True  # optimistic: the first call finds out
        self.down_since: float | None = None  # wall time
        self.last_error: str | None = None
        self.outages = 0
        self.failed_calls = 0  # calls that fell back to local counting
        self.calls = 0  # round trips made (each call is one)
        self._backoff = MIN_BACKOFF_S
        self._next_probe = 0.0  # time.monotonic()
        self._reconnect_hooks: list[Callable[[], None]] = []
        self._scripts: list[Any] = []  # every script, loaded again into a restarted Redis
        self._deferred: list[tuple[Any, list, list, Callable[[], None]]] = []
        self.deferred_lost = 0  # deferred writes that met a Redis gone (counted locally)
        self.script_errors = 0  # deferred scripts that failed in Redis (logged)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def script(self, lua: str) -> Any:
        """A Lua script on the sync client (EVALSHA; loaded again after a restart)."""
        script = self.client.register_script(lua)
        self._scripts.append(script)
        return script

    def on_reconnect(self, fn: Callable[[], None]) -> None:
        """Run `fn()` (sync, may raise Unavailable) when Redis is found again."""
        self._reconnect_hooks.append(fn)

    # -- calls

    def usable(self) -> bool:
        """Whether to call Redis now; while down, probes it once its backoff has passed."""
        if self.up:
            return True
        if time.monotonic() < self._next_probe:
            return False
        return self.probe()

    def probe(self) -> bool:
        try:
            self.client.ping()
            for script in self._scripts:  # a restarted Redis has none
                self.client.script_load(script.script)
            for hook in self._reconnect_hooks:  # catch up before anyone reads the counters
                hook()
        except (*self.errors, Unavailable) as e:
            self._failed(e)
            return False
        self._mark_up()
        return True

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """`fn(client)` on the sync client; Unavailable when Redis cannot answer."""
        if not self.usable():
            raise Unavailable(self.last_error or "redis down")
        self.calls += 1
        try:
            return fn(self.client)
        except self.errors as e:
            self._failed(e)
            raise Unavailable(str(e)) from e

    def run(self, script: Any, keys: list, args: list) -> Any:
        """Run a script (after the deferred writes, in the same round trip) and return its
        answer; Unavailable when Redis cannot answer (the deferred writes' `lost` ran)."""
        if not self.usable():
            raise Unavailable(self.last_error or "redis down")
        self.calls += 1
        if not self._deferred:
            try:
                return script(keys=keys, args=args, client=self.client)
            except self.errors as e:
                self._failed(e)
                raise Unavailable(str(e)) from e
        return self._pipeline([(script, keys, args, None)])[-1]

    def defer(self, script: Any, keys: list, args: list, lost: Callable[[], None]) -> None:
        """A write nobody waits for: sent ahead of the next call or poll. `lost()` runs
        instead (count it locally) when Redis is away then."""
        if not self.up:
            lost()
            return
        self._deferred.append((script, keys, args, lost))
        if len(self._deferred) >= MAX_DEFERRED:
            self.flush()

    def flush(self) -> None:
        """Send the deferred writes now (the poll does, so an idle process's reach Redis)."""
        if not self._deferred:
            return
        if not self.usable():
            self._lose(self._deferred)
            self._deferred = []
            return
        self.calls += 1
        with contextlib.suppress(Unavailable):  # the writes were counted by their `lost`
            self._pipeline([])

    def _pipeline(self, calls: list) -> list:
        from redis.exceptions import NoScriptError

        batch, self._deferred = self._deferred, []
        todo = batch + calls
        try:
            pipe = self.client.pipeline(transaction=False)
            for script, keys, args, _ in todo:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            results = pipe.execute(raise_on_error=False)
            for i, r in enumerate(results):  # someone flushed the scripts: load, run again
                if isinstance(r, NoScriptError):
                    script, keys, args, _ = todo[i]
                    results[i] = script(keys=keys, args=args, client=self.client)
        except self.errors as e:
            self._failed(e)
            self._lose(batch)
            raise Unavailable(str(e)) from e
        for r in results[:len(batch)]:
            if isinstance(r, Exception):  # a script's own error: a bug, never silent
                self.script_errors += 1
                log.error("a deferred redis script failed: %s", r)
        for r in results[len(batch):]:
            if isinstance(r, Exception):
                raise r
        return results

    def _lose(self, batch: list) -> None:
        for _, _, _, lost in batch:
            self.deferred_lost += 1
            lost()

    async def acall(self, fn: Callable[[Any], Any]) -> Any:
        """`await fn(aclient)` on the async client; Unavailable when Redis cannot answer."""
        if not self.usable():
            raise Unavailable(self.last_error or "redis down")
        self.calls += 1
        try:
            return await fn(self.aclient)
        except self.errors as e:
            self._failed(e)
            raise Unavailable(str(e)) from e

    # -- state

    def _failed(self, e: BaseException) -> None:
        self.failed_calls += 1
        self.last_error = f"{type(e).__name__}: {e}"[:200]
        now = time.monotonic()
        if self.up:
            self.up = False
            self.outages += 1
            self.down_since = time.time()
            self._backoff = MIN_BACKOFF_S
            log.warning("redis %s unreachable (%s): counting in this process until it returns",
                        self.shown_url, self.last_error)
            self._tell(False)
        else:
            self._backoff = min(self.max_backoff_s, self._backoff * 2)
        self._next_probe = now + self._backoff

    def _mark_up(self) -> None:
        if self.up:
            return
        down_s = time.time() - (self.down_since or time.time())
        self.up, self.down_since, self._backoff = True, None, MIN_BACKOFF_S
        log.warning("redis %s is back after %.1fs: shared counters again", self.shown_url, down_s)
        self._tell(True, down_s=round(down_s, 3))

    def _tell(self, up: bool, **extra: Any) -> None:
        if self.on_change is None:
            return
        detail = {"state": "up" if up else "down", "url": self.shown_url, **extra}
        if not up:
            detail["error"] = self.last_error
        try:
            self.on_change(up, detail)
        except Exception:  # an observer must never break routing
            log.exception("redis state listener failed")

    def status(self) -> dict:
        """For /readyz, the heartbeat and `axtui status`."""
        return {"url": self.shown_url, "state": "up" if self.up else "down",
                "down_since": self.down_since, "last_error": self.last_error,
                "outages": self.outages, "failed_calls": self.failed_calls}

    async def aclose(self) -> None:
        self.flush()  # the deferred writes are counts the fleet must not lose
        await self.aclient.aclose()
        self.client.close()
