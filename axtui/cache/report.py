"""The cache as operators read it: hits per route over a window (from the store's rollups,
so every process's and every past run's), and each running engine's live counts (from the
heartbeats), for `axtui cache stats`, the snapshot and /metrics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, select

from axtui.store.process_status import ProcessState
from axtui.store.tables import rollup_table
from axtui.store.windows import in_range

_U = rollup_table.c


@dataclass(slots=True)
class WindowHits:
    requests: int  # every request of the route in the window
    hits: int  # those the cache answered

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.requests if self.requests else None


def window_hits(conn: Connection, since_ts: float, until_ts: float | None = None
                ) -> dict[str, WindowHits]:
    """Per route with traffic in the window. A request answered ok by no deployment is a
    cache hit (every other ok has the deployment that served it): the rollups' `ok` at
    deployment "" counts hits, with no column of their own."""
    served_by_none = func.sum(case((_U.deployment == "", _U.ok), else_=0))
    q = (select(_U.route, func.coalesce(func.sum(_U.requests), 0),
                func.coalesce(served_by_none, 0))
         .where(in_range(conn, _U, since_ts, until_ts)).group_by(_U.route))
    return {route: WindowHits(int(n), int(hits)) for route, n, hits in conn.execute(q) if n}


@dataclass(slots=True)
class LiveCache:
    """One route's cache summed over the running (not stale) engines that cache it."""

    route: str
    processes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def hits(self) -> int:
        return self.counts.get("exact", 0) + self.counts.get("semantic_hits", 0)

    @property
    def hit_rate(self) -> float | None:
        lookups = self.counts.get("lookups", 0)
        return self.hits / lookups if lookups else None

    def to_dict(self) -> dict[str, Any]:
        return {"route": self.route, "processes": self.processes, **self.counts,
                "hits": self.hits, "hit_rate": self.hit_rate, "skipped": self.skipped}


def live_caches(states: Iterable[ProcessState]) -> dict[str, LiveCache]:
    out: dict[str, LiveCache] = {}
    for st in states:
        if st.stale:
            continue
        for route, c in st.live.cache.items():
            lc = out.setdefault(route, LiveCache(route))
            lc.processes += 1
            for name, value in c.model_dump().items():
                if name == "skipped":
                    for reason, n in value.items():
                        lc.skipped[reason] = lc.skipped.get(reason, 0) + n
                else:
                    lc.counts[name] = lc.counts.get(name, 0) + value
    return out
