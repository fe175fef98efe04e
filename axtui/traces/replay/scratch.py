"""The counterfactual run's scratch store: only its alert evaluator reads it, and the
evaluator reads rollups (and events), never the raw request rows. So records are folded
into rollups as they come, in the engine's thread, and written at each flush (the host
flushes before every evaluation, virtual time standing still): no JSON per record, no
row per record, no writer threads. With `--store` (a console follows the run) the full
recorder writes instead."""

from __future__ import annotations

import logging
import math
import time

from axtui.records import RequestRecord
from axtui.store.db import Store
from axtui.store.ingest import WRITTEN_COUNTER, add_counters
from axtui.store.recorder import RecorderStats
from axtui.store.rollups import (
    MINUTE_S,
    RESOLUTIONS,
    Key,
    Levels,
    RollupDelta,
    _Group,
    apply_delta,
)

log = logging.getLogger(__name__)

# Records folded in before a write even without a flush (a run with no alert rules): the
# delta's size is minutes x routes x deployments, but never let it grow unread.
FLUSH_EVERY = 50_000


class CoarseHold:
    """A scratch store's hours and days, held until a read could see them.

    Every reader of a window (alerts, SLOs, budgets: store/windows.py) reads an hour's or a
    day's row only when the whole period lies inside the window, and a window ends at the
    instant it is read. So until an evaluation's instant passes the end of an hour, that
    hour's row is never read, and adding to it at every flush (two upserts out of three:
    most of a flush's cost) can wait: the hold sums the batches' hours and days and gives
    out those that ended by the read's instant; all of them at the end."""

    def __init__(self) -> None:
        self.held: dict[int, dict[Key, _Group]] = {res: {} for res in RESOLUTIONS[1:]}

    @staticmethod
    def _horizon(upto: float | None) -> float:
        """The end of the last whole minute a window read at `upto` covers."""
        return math.inf if upto is None else math.ceil(upto / MINUTE_S) * MINUTE_S

    def due(self, upto: float | None) -> bool:
        """Whether a held hour or day ended by `upto` (it must be written before a read)."""
        horizon = self._horizon(upto)
        return any(key[0] + res <= horizon for res, held in self.held.items() for key in held)

    def levels(self, delta: RollupDelta, upto: float | None) -> Levels:
        """The delta's minutes, and the held hours and days that ended by `upto` (None:
        every one), taken out of the hold. The minutes are summed into the held hours and
        days here (as `RollupDelta.levels` sums them, but into the hold's own groups)."""
        horizon = self._horizon(upto)
        out: Levels = [(MINUTE_S, delta.groups)]
        for res in RESOLUTIONS[1:]:
            held = self.held[res]
            for (minute, route, deployment), g in delta.groups.items():
                key = (minute - minute % res, route, deployment)
                mine = held.get(key)
                if mine is None:
                    mine = held[key] = _Group()
                mine.merge(g)
            ready = [key for key in held if key[0] + res <= horizon]
            out.append((res, {key: held.pop(key) for key in ready}))
        return out


def write_rollups(store: Store, delta: RollupDelta, records: int,
                  hold: CoarseHold | None = None, upto: float | None = None) -> None:
    """`records`' rollups and the recorder's written counter, in one transaction (with a
    `hold`, the hours and days a read at `upto` could see)."""
    levels = None if hold is None else hold.levels(delta, upto)
    with store.begin() as conn:
        apply_delta(conn, delta, native=store.native_upsert, max_params=store.max_params,
                    levels=levels)
        add_counters(conn, {WRITTEN_COUNTER: records}, native=store.native_upsert,
                     max_params=store.max_params)


class RollupRecorder:
    """The recorder interface RuntimeHost uses (submit, flush, close, stats), writing
    rollups and the recorder counters only."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._delta = RollupDelta()
        self._pending = 0
        self._written = self._failed = self._flushes = self._write_errors = 0
        self._last_flush_at: float | None = None
        self._last_error: str | None = None
        self._closed = False

    def submit(self, record: RequestRecord) -> bool:
        if self._closed:
            self._failed += 1
            return False
        self._delta.add(record)
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            self.flush()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Write what was folded in since the last flush; False (counted, logged) if the
        store refused it."""
        n = self._pending
        if not n:
            return True
        delta, self._delta, self._pending = self._delta, RollupDelta(), 0
        try:
            write_rollups(self.store, delta, n)
        except Exception as err:  # the run goes on; what was lost is counted and said
            self._failed += n
            self._write_errors += 1
            self._last_error = str(err).splitlines()[0][:300] if str(err) else repr(err)
            log.error("replay scratch store: %d records' rollups not written: %s", n,
                      self._last_error)
            return False
        self._written += n
        self._flushes += 1
        self._last_flush_at = time.time()
        return True

    def close(self, timeout: float | None = None) -> None:
        self.flush()
        self._closed = True

    def stats(self) -> RecorderStats:
        return RecorderStats(
            written=self._written, dropped=self._failed, refused=0, failed=self._failed,
            queued=self._pending, flushes=self._flushes, write_errors=self._write_errors,
            last_flush_at=self._last_flush_at, last_error=self._last_error, traced=0,
            trace_errors=0)
