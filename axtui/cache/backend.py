"""Where cached answers live: a small async interface of bytes with a TTL, so a shared
backend (Redis, with the fleet) drops in beside the in-memory one; `MemoryBackend` is an
LRU with an entry limit, a byte limit and a TTL on the engine's clock."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from axtui.clock import Clock


@dataclass(slots=True)
class BackendStats:
    entries: int = 0
    bytes: int = 0
    evictions: int = 0  # pushed out by the size limits (least recently used first)
    expirations: int = 0  # found or swept past their TTL


class CacheBackend(Protocol):
    """Bytes by key, each with a TTL. Async because a shared backend is a network call."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def clear(self) -> int:
        """Remove every entry; how many there were."""

    def stats(self) -> BackendStats: ...


class MemoryBackend:
    """This process's memory: least recently used entries go first when either limit is
    reached; an entry past its TTL is never returned."""

    def __init__(self, clock: Clock, *, max_entries: int, max_bytes: int) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # value, expires
        self._bytes = 0
        self.evictions = 0
        self.expirations = 0

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires = item
        if self.clock.monotonic() >= expires:
            self._drop(key)
            self.expirations += 1
            return None
        self._items.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self.max_bytes:  # would evict everything and still not fit
            self.evictions += 1
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = (value, self.clock.monotonic() + ttl_s)
        self._bytes += len(value)
        self._sweep()
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._items))
            self._drop(oldest)
            self.evictions += 1

    async def delete(self, key: str) -> bool:
        if key not in self._items:
            return False
        self._drop(key)
        return True

    async def clear(self) -> int:
        n = len(self._items)
        self._items.clear()
        self._bytes = 0
        return n

    def stats(self) -> BackendStats:
        return BackendStats(len(self._items), self._bytes, self.evictions, self.expirations)

    def _drop(self, key: str) -> None:
        value, _ = self._items.pop(key)
        self._bytes -= len(value)

    def _sweep(self) -> None:
        """Expired entries at the LRU end go first: they would be evicted before live ones
        anyway, and counting them as expirations says why they left."""
        now = self.clock.monotonic()
        items = self._items
        while items:
            key, (_, expires) = next(iter(items.items()))
            if expires > now:
                return
            self._drop(key)
            self.expirations += 1
