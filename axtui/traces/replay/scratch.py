"""The counterfactual run's scratch store: only its alert evaluator reads it, and the
evaluator reads rollups (and events), never the raw request rows. So records are folded
into rollups as they come, in the engine's thread, and written at each flush (the host
flushes before every evaluation, virtual time standing still): no JSON per record, no
row per record, no writer threads. With `--store` (a console follows the run) the full
recorder writes instead."""

from __future__ import annotations

import logging
import time

from axtui.records import RequestRecord
from axtui.store.db import Store
from axtui.store.ingest import WRITTEN_COUNTER, add_counters
from axtui.store.recorder import RecorderStats
from axtui.store.rollups import RollupDelta, apply_delta

log = logging.getLogger(__name__)

# Records folded in before a write even without a flush (a run with no alert rules): the
# delta's size is minutes x routes x deployments, but never let it grow unread.
FLUSH_EVERY = 50_000


def write_rollups(store: Store, delta: RollupDelta, records: int) -> None:
    """`records`' rollups and the recorder's written counter, in one transaction."""
    with store.begin() as conn:
        apply_delta(conn, delta, native=store.native_upsert, max_params=store.max_params)
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
