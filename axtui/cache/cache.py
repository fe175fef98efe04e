"""The response cache: per route (`[routes.X.cache]`), answers kept by the normalized
request (keys.py) and, on routes that opt in, found again by the meaning of the last user
turn (semantic.py). The engine asks it before routing and tells it each answer after.

Never served from the cache, nor put in it: a tool-result turn (its answer depends on a
tool's live result) and a request sampling above the route's `max_temperature`. Answers
are kept per caller key unless the route shares them. A streaming request is served its
hit as a stream (answers.replay), and a stream that ends well is cached like a plain one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from axtui.cache import keys
from axtui.cache.answers import StreamCollector, decode, encode
from axtui.cache.backend import CacheBackend, MemoryBackend
from axtui.cache.embed import Embedder, make_embedder
from axtui.cache.semantic import SemanticIndex
from axtui.clock import Clock
from axtui.providers.base import ChatResponse

if TYPE_CHECKING:
    from axtui.config import Config, RouteCacheConfig
    from axtui.engine.plan import Plan
    from axtui.records import RequestRecord
    from axtui.store.control import ControlSnapshot

log = logging.getLogger(__name__)

CLEAR_PREFIX = "cache_clear:"  # control entries: one per route, or "*" for every route
EXACT, SEMANTIC = "exact", "semantic"


@dataclass(slots=True)
class CacheNote:
    """One request's lookup, kept on its plan: where its answer goes, and what it hit."""

    route: RouteCache
    key: str
    partition: str | None = None  # semantic routes, when the last turn is user text
    text: str = ""  # that turn, embedded only when the exact key misses
    vector: Any = None
    hit: str | None = None  # exact | semantic
    similarity: float | None = None


@dataclass(slots=True)
class CacheCounts:
    lookups: int = 0
    exact: int = 0
    semantic: int = 0
    misses: int = 0
    stored: int = 0
    errors: int = 0  # lookups or stores that failed (logged); the request went on uncached
    cleared: int = 0
    saved_nano: int = 0  # what the hits would have cost on the cheapest capable deployment
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> requests


class RouteCache:
    """One route's cache."""

    def __init__(self, route: str, cfg: RouteCacheConfig, clock: Clock, *,
                 backend: CacheBackend | None = None, embedder: Embedder | None = None
                 ) -> None:
        self.route, self.cfg, self.clock = route, cfg, clock
        self.backend = backend or MemoryBackend(clock, max_entries=cfg.max_entries,
                                                max_bytes=int(cfg.max_mib * 1024 * 1024))
        self.index: SemanticIndex | None = None
        if cfg.semantic:
            self.index = SemanticIndex(embedder or make_embedder(cfg.embedder), clock,
                                       threshold=cfg.similarity, max_entries=cfg.max_entries)
        self.counts = CacheCounts()
        self.generation = 0  # a clear moves it: keys of earlier generations are unreachable

    def note(self, plan: Plan) -> CacheNote | None:
        """The request's lookup, or None (counted by reason) when the cache may not serve it."""
        request = plan.request
        if keys.tool_result_turn(request):
            self.counts.skipped["tool_result"] += 1
            return None
        if keys.temperature(request) > self.cfg.max_temperature:
            self.counts.skipped["temperature"] += 1
            return None
        scope = "*" if self.cfg.shared else (plan.ctx.key_id or "")
        route = f"{self.route}#{self.generation}"
        note = CacheNote(self, keys.exact_key(route, scope, request))
        if self.index is not None:
            turn = keys.last_user_text(request)
            if turn is not None:
                note.partition = keys.semantic_partition(route, scope, request, turn[0])
                note.text = turn[1]
        return note

    async def lookup(self, note: CacheNote) -> ChatResponse | None:
        c = self.counts
        c.lookups += 1
        raw = await self.backend.get(note.key)
        if raw is not None:
            c.exact += 1
            note.hit, note.similarity = EXACT, 1.0
            return decode(raw)
        if note.partition is not None and self.index is not None:
            note.vector = self.index.embedder.embed(note.text)
            found = self.index.find(note.partition, note.vector)
            if found is not None:
                raw = await self.backend.get(found[0])
                if raw is None:  # the answer left (evicted, expired): so does its vector
                    self.index.drop(note.partition, found[0])
                else:
                    c.semantic += 1
                    note.hit, note.similarity = SEMANTIC, round(found[1], 4)
                    return decode(raw)
        c.misses += 1
        return None

    async def store(self, note: CacheNote, resp: ChatResponse) -> None:
        if resp.content is None and not resp.tool_calls:
            return  # nothing worth serving again
        await self.backend.put(note.key, encode(resp), self.cfg.ttl_s)
        if note.vector is not None and self.index is not None:
            self.index.add(note.partition or "", note.key, note.vector, self.cfg.ttl_s)
        self.counts.stored += 1

    def clear(self) -> None:
        """Every answer becomes unreachable now; the backend lets go of them soon after."""
        self.generation += 1
        self.counts.cleared += 1
        if self.index is not None:
            self.index.clear()

    def stats(self) -> dict[str, Any]:
        c, b = self.counts, self.backend.stats()
        hits = c.exact + c.semantic
        return {
            "route": self.route, "semantic": self.index is not None,
            "embedder": self.index.embedder.name if self.index is not None else None,
            "entries": b.entries, "bytes": b.bytes, "lookups": c.lookups,
            "hits": hits, "exact": c.exact, "semantic_hits": c.semantic, "misses": c.misses,
            "hit_rate": hits / c.lookups if c.lookups else None,
            "skipped": dict(c.skipped), "stored": c.stored, "evictions": b.evictions,
            "expirations": b.expirations, "cleared": c.cleared, "errors": c.errors,
            "saved_nano": c.saved_nano,
        }


class ResponseCache:
    """Every caching route's cache, for one engine."""

    def __init__(self, routes: dict[str, RouteCache]) -> None:
        self.routes = routes
        self._cleared: dict[str, int] | None = None  # control key -> version applied
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def from_config(cls, config: Config, clock: Clock) -> ResponseCache | None:
        """None when no route caches (the engine then does no cache work at all)."""
        routes = {name: RouteCache(name, r.cache, clock) for name, r in config.routes.items()
                  if r.cache is not None and r.cache.enabled}
        return cls(routes) if routes else None

    def caches(self, route: str) -> bool:
        return route in self.routes

    async def lookup(self, plan: Plan) -> ChatResponse | None:
        """The cached answer for the plan's request, or None; the lookup (hit or miss) is
        left on `plan.cache` for the record and for `store`."""
        rc = self.routes.get(plan.route)
        if rc is None:
            return None
        try:
            note = rc.note(plan)
            if note is None:
                return None
            plan.cache = note
            resp = await rc.lookup(note)
        except Exception:  # the cache must never fail a request: it goes on uncached
            rc.counts.errors += 1
            log.exception("cache lookup failed on route %s", rc.route)
            plan.cache = None
            return None
        if resp is not None:
            sim = f" {note.similarity:.3f}" if note.hit == SEMANTIC else ""
            plan.reason = f"{plan.reason}; cache hit ({note.hit}{sim})".lstrip("; ")
        return resp

    async def store(self, plan: Plan, resp: ChatResponse) -> None:
        note = plan.cache
        if note is None or note.hit is not None:
            return
        try:
            await note.route.store(note, resp)
        except Exception:  # an answer not cached is only a later miss
            note.route.counts.errors += 1
            log.exception("cache store failed on route %s", note.route.route)

    @staticmethod
    def collector(plan: Plan) -> StreamCollector | None:
        """For a stream that missed: gathers its chunks so its answer can be stored."""
        note = plan.cache
        return StreamCollector() if note is not None and note.hit is None else None

    def on_record(self, record: RequestRecord) -> None:
        """A record listener: a hit's saving is what its cheapest deployment would cost."""
        if record.cache is not None:
            rc = self.routes.get(record.route)
            if rc is not None and record.optimal_cost_nano:
                rc.counts.saved_nano += record.optimal_cost_nano

    def clear(self, route: str | None = None) -> list[str]:
        """Clear one route's cache, or every route's; the routes cleared."""
        names = [route] if route is not None else list(self.routes)
        cleared = []
        for name in names:
            rc = self.routes.get(name)
            if rc is not None:
                rc.clear()
                self._release(rc)
                cleared.append(name)
        return cleared

    def _release(self, rc: RouteCache) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the LRU lets them go instead
            return
        task = loop.create_task(rc.backend.clear())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def apply_control(self, snapshot: ControlSnapshot) -> None:
        """`axtui cache clear` writes a control entry; each engine clears on seeing it. The
        first snapshot only says where things stand: a clear from before this engine
        started cleared nothing of its."""
        first, seen = self._cleared is None, self._cleared or {}
        for key, entry in snapshot.entries.items():
            if not key.startswith(CLEAR_PREFIX) or seen.get(key, -1) >= entry.version:
                continue
            seen[key] = entry.version
            route = key[len(CLEAR_PREFIX):]
            if not first:
                self.clear(None if route == "*" else route)
        self._cleared = seen

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: rc.stats() for name, rc in self.routes.items()}
