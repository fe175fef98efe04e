"""Retention: drop raw records and rollup periods older than the configured ages, so a
store under steady traffic stops growing. The runtime host calls `prune` periodically, off
the event loop: `await asyncio.to_thread(prune, store, clock.now(), config.retention)`
(every few minutes is plenty: ages are days).

Rows go in bounded transactions (a few thousand raw rows, or a day of rollup periods, at a
time), so a prune never holds the store's one write lock for long against the recorder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, select

from axtui.config import RetentionConfig
from axtui.store.db import Store
from axtui.store.feedback import FeedbackRow
from axtui.store.rollups import DAY_S, HOUR_S, MINUTE_S
from axtui.store.tables import ROLLUP_TABLES, RequestRow

RAW_ROWS_PER_TRANSACTION = 5000
_DAY = 86400.0
_R = RequestRow.__table__.c
_F = FeedbackRow.__table__


@dataclass(frozen=True)
class PruneResult:
    """Rows deleted: per table (rollup tables over every resolution), and per rollup
    resolution (60, 3600, 86400: over the three rollup tables)."""

    deleted: dict[str, int] = field(default_factory=dict)
    by_resolution: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def cutoffs(policy: RetentionConfig, now: float) -> dict[str, float]:
    """Oldest time each kind of row is kept from: raw, and per rollup resolution."""
    return {
        "raw": now - policy.raw_days * _DAY,
        str(MINUTE_S): now - policy.minute_days * _DAY,
        str(HOUR_S): now - policy.hour_days * _DAY,
        str(DAY_S): now - policy.day_days * _DAY,
    }


def prune(store: Store, now: float, policy: RetentionConfig | None = None) -> PruneResult:
    """Delete raw records (and their ratings) that started before `now` - raw_days, and
    rollup periods that ended before `now` - {minute,hour,day}_days. Blocking: from asyncio,
    run it in a thread."""
    policy = policy or RetentionConfig()
    limits = cutoffs(policy, now)
    deleted = {"request": _prune_raw(store, limits["raw"])}
    with store.begin() as conn:  # ratings go with their records (few: one transaction)
        deleted["feedback"] = conn.execute(delete(_F).where(
            _F.c.request_started_at < limits["raw"])).rowcount
    by_resolution: dict[int, int] = {}
    for table in ROLLUP_TABLES:
        deleted[table.name] = 0
        for res in (MINUTE_S, HOUR_S, DAY_S):
            n = _prune_rollups(store, table, res, limits[str(res)])
            deleted[table.name] += n
            by_resolution[res] = by_resolution.get(res, 0) + n
    return PruneResult(deleted=deleted, by_resolution=by_resolution)


def _prune_raw(store: Store, cutoff: float) -> int:
    total = 0
    while True:
        oldest = (select(_R.seq).where(_R.started_at < cutoff)
                  .limit(RAW_ROWS_PER_TRANSACTION).scalar_subquery())
        with store.begin() as conn:
            n = conn.execute(delete(RequestRow.__table__).where(_R.seq.in_(oldest))).rowcount
        total += n
        if n < RAW_ROWS_PER_TRANSACTION:
            return total


def _prune_rollups(store, table, res: int, cutoff: float) -> int:
    """Periods [p, p + res) wholly before `cutoff`, a day of periods per transaction."""
    c = table.c
    end = int(cutoff) - res  # keep a period while any of it is within the age
    with store.connect() as conn:
        first = conn.execute(select(func.min(c.period)).where(c.res == res)).scalar()
    if first is None or first > end:
        return 0
    total, upto = 0, int(first)
    while True:
        upto = min(upto + DAY_S, end)
        with store.begin() as conn:
            total += conn.execute(delete(table).where(c.res == res, c.period <= upto)).rowcount
        if upto >= end:
            return total
