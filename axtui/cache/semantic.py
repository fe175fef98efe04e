"""The semantic index of one route: per partition (everything but the last user turn, see
keys.py), the vectors of stored last turns, each pointing at its answer's exact key.

It lives in this process (a shared backend holds answers, not this index): at most
`max_entries` vectors, the least recently used leaving first, each with the answer's TTL.
A lookup compares the turn with every vector of its partition, which stays small: a
partition is one system prompt, history, parameter set and caller scope."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from axtui.cache.embed import Embedder
from axtui.clock import Clock


class SemanticIndex:
    def __init__(self, embedder: Embedder, clock: Clock, *, threshold: float,
                 max_entries: int) -> None:
        self.embedder = embedder
        self.clock = clock
        self.threshold = threshold
        self.max_entries = max_entries
        # (partition, exact key) -> (vector, expires at); LRU order across partitions
        self._lru: OrderedDict[tuple[str, str], tuple[Any, float]] = OrderedDict()
        self._partitions: dict[str, dict[str, Any]] = {}  # partition -> {exact key: vector}

    def __len__(self) -> int:
        return len(self._lru)

    def find(self, partition: str, vector: Any) -> tuple[str, float] | None:
        """The stored turn most similar to `vector` at or above the threshold: (its exact
        key, the similarity)."""
        members = self._partitions.get(partition)
        if not members:
            return None
        now = self.clock.monotonic()
        similarity = self.embedder.similarity
        best: tuple[str, float] | None = None
        expired = []
        for key, stored in members.items():
            if self._lru[(partition, key)][1] <= now:
                expired.append(key)
                continue
            s = similarity(vector, stored)
            if s >= self.threshold and (best is None or s > best[1]):
                best = (key, s)
        for key in expired:
            self.drop(partition, key)
        if best is not None:
            self._lru.move_to_end((partition, best[0]))
        return best

    def add(self, partition: str, key: str, vector: Any, ttl_s: float) -> None:
        self.drop(partition, key)
        self.embedder.learn(vector)
        self._lru[(partition, key)] = (vector, self.clock.monotonic() + ttl_s)
        self._partitions.setdefault(partition, {})[key] = vector
        while len(self._lru) > self.max_entries:
            (p, k), _ = next(iter(self._lru.items()))
            self.drop(p, k)

    def drop(self, partition: str, key: str) -> bool:
        item = self._lru.pop((partition, key), None)
        if item is None:
            return False
        self.embedder.forget(item[0])
        members = self._partitions[partition]
        del members[key]
        if not members:
            del self._partitions[partition]
        return True

    def clear(self) -> None:
        for vector, _ in self._lru.values():
            self.embedder.forget(vector)
        self._lru.clear()
        self._partitions.clear()
