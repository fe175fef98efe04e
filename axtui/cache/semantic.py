"""The semantic index of one route: per partition (everything but the last user turn, see
keys.py), the vectors of stored last turns, each pointing at its answer's exact key.

It lives in this process (a shared backend holds answers, not this index): at most
`max_entries` vectors, the least recently used leaving first, each with the answer's TTL.
A small partition is compared in full. In a large one (a shared FAQ route: one system
prompt, thousands of questions), an embedder that can name a vector's rarest features
(`rarest`) narrows the comparison to the few turns sharing most of the query's rarest
features (among those some stored turn has): a turn similar enough to be served shares
most of its n-grams, rare ones included. Embedders without it are compared in full."""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any

from axtui.cache.embed import Embedder
from axtui.clock import Clock

PROBES = 16  # features a stored turn is filed under, and a query looks up
CANDIDATES = 12  # the stored turns sharing most of those are compared in full
PROBE_BUDGET = 4096  # postings a lookup counts at most (then it stops probing)


class _Partition:
    __slots__ = ("members", "postings")

    def __init__(self) -> None:
        self.members: dict[str, Any] = {}  # exact key -> vector
        self.postings: dict[Any, set[str]] = {}  # feature -> exact keys filed under it


class SemanticIndex:
    def __init__(self, embedder: Embedder, clock: Clock, *, threshold: float,
                 max_entries: int) -> None:
        self.embedder = embedder
        self.clock = clock
        self.threshold = threshold
        self.max_entries = max_entries
        self._rarest = getattr(embedder, "rarest", None)
        # (partition, exact key) -> (expires at, features filed under); LRU order
        self._lru: OrderedDict[tuple[str, str], tuple[float, tuple]] = OrderedDict()
        self._partitions: dict[str, _Partition] = {}
        self.compared = 0  # vectors compared, all lookups: what the narrowing saves

    def __len__(self) -> int:
        return len(self._lru)

    def find(self, partition: str, vector: Any) -> tuple[str, float] | None:
        """The stored turn most similar to `vector` at or above the threshold: (its exact
        key, the similarity)."""
        part = self._partitions.get(partition)
        if part is None:
            return None
        members = part.members
        keys: Any = members
        if self._rarest is not None and len(members) > CANDIDATES:
            shared: Counter[str] = Counter()  # stored turn -> rare features it shares
            budget = PROBE_BUDGET
            for f in self._rarest(vector, PROBES, stored_only=True):  # rarest first
                filed = part.postings.get(f, ())
                shared.update(filed)
                budget -= len(filed)
                if budget <= 0:  # the commoner features left say little more
                    break
            keys = [k for k, _ in shared.most_common(CANDIDATES)]
        now, lru = self.clock.monotonic(), self._lru
        similarity = self.embedder.similarity
        best: tuple[str, float] | None = None
        expired = []
        for key in keys:
            if lru[(partition, key)][0] <= now:
                expired.append(key)
                continue
            s = similarity(vector, members[key])
            if s >= self.threshold and (best is None or s > best[1]):
                best = (key, s)
        self.compared += len(keys)
        for key in expired:
            self.drop(partition, key)
        if best is not None:
            lru.move_to_end((partition, best[0]))
        return best

    def add(self, partition: str, key: str, vector: Any, ttl_s: float) -> None:
        self.drop(partition, key)
        part = self._partitions.get(partition)
        if part is None:
            part = self._partitions[partition] = _Partition()
        filed: tuple = ()
        if self._rarest is not None:
            filed = tuple(self._rarest(vector, PROBES))  # before learn: rarest among others
            for f in filed:
                part.postings.setdefault(f, set()).add(key)
        self.embedder.learn(vector)
        part.members[key] = vector
        self._lru[(partition, key)] = (self.clock.monotonic() + ttl_s, filed)
        while len(self._lru) > self.max_entries:
            p, k = next(iter(self._lru))
            self.drop(p, k)

    def drop(self, partition: str, key: str) -> bool:
        item = self._lru.pop((partition, key), None)
        if item is None:
            return False
        part = self._partitions[partition]
        self.embedder.forget(part.members.pop(key))
        for f in item[1]:
            filed = part.postings[f]
            filed.discard(key)
            if not filed:
                del part.postings[f]
        if not part.members:
            del self._partitions[partition]
        return True

    def clear(self) -> None:
        for part in self._partitions.values():
            for vector in part.members.values():
                self.embedder.forget(vector)
        self._lru.clear()
        self._partitions.clear()
