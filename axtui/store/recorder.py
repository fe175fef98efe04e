"""The recorder: records in on the hot path, batches out to the store (and a JSONL trace).

`submit()` is a length check and a deque append, safe from any thread. Behind it, two
threads form a pipeline: one drains the queue every `flush_interval_s` (or as soon as a
batch fills) and does the GIL-bound half (JSON, row tuples, rollup deltas, the trace); the
other is the store's one writer and commits each batch in one transaction, mostly inside
SQLite, which releases the GIL. So the two halves run on two cores, and the event loop
that submits is never blocked on I/O.

Nothing is lost silently: a full queue refuses and counts; a failed write is retried with
backoff and, after `max_write_tries`, counted as failed; both show in `stats()` and are
added to the store's `recorder.dropped` counter, which other processes can read.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from axtui.records import RequestRecord
from axtui.store.db import Store
from axtui.store.ingest import PreparedBatch, prepare, record_json
from axtui.store.tracefile import TraceWriter

log = logging.getLogger(__name__)
_YIELD_EVERY = 64


@dataclass(frozen=True)
class RecorderStats:
    written: int  # records committed to the store
    dropped: int  # refused + failed: records that will never be stored
    refused: int  # submit() returned False: queue full, or the recorder closed
    failed: int  # given up after write errors (or not serializable)
    queued: int  # waiting to be written, including a batch being retried
    flushes: int  # committed batches
    write_errors: int  # failed write attempts
    last_flush_at: float | None  # wall time of the last committed batch
    last_error: str | None  # one line, from the most recent failure
    traced: int  # records appended to the trace file
    trace_errors: int


class _FlushWaiter:
    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


@dataclass
class _FlushMarker:
    """Follows the last batch a flush() covers; `failures` happened while preparing them."""

    waiters: list[_FlushWaiter]
    failures: int


@dataclass
class _Batch:
    jsons: list[str]  # kept to split the batch if one record poisons it
    prepared: PreparedBatch | None  # None: a half, prepared from its lines when committed

    @property
    def size(self) -> int:
        return len(self.jsons)

    def halves(self) -> tuple[_Batch, _Batch]:
        mid = len(self.jsons) // 2
        return _Batch(self.jsons[:mid], None), _Batch(self.jsons[mid:], None)


def id_of(line: str) -> str:
    """A record line's id, for a message about a line that may be no record."""
    try:
        return str(orjson.loads(line).get("id"))
    except (orjson.JSONDecodeError, AttributeError):
        return "?"


def _one_line(err: BaseException) -> str:
    # A DBAPIError's own text repeats the SQL and parameters; the driver's message is enough.
    inner = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    text = str(inner).splitlines()[0] if str(inner) else ""
    return f"{type(inner).__name__}: {text}"[:300]


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 0.25,
        batch_max: int = 5000,
        queue_max: int = 100_000,
        trace_path: str | Path | None = None,
        max_write_tries: int = 5,
        metrics_dir: str | Path | None = None,
        metrics_routes: Sequence[str] | None = None,
    ) -> None:
        if flush_interval_s <= 0 or batch_max < 1 or queue_max < 1 or max_write_tries < 1:
            raise ValueError("recorder: interval, batch_max, queue_max and tries must be > 0")
        self._store = store
        self._flush_interval_s = flush_interval_s
        self._batch_max = batch_max
        self._queue_max = queue_max  # set to -1 on close, so submit refuses in one compare
        self._max_write_tries = max_write_tries
        self._queue: deque[RequestRecord] = deque()
        # Two batches in hand: the writer commits one while the next is prepared.
        self._ready: queue.Queue[_Batch | _FlushMarker | None] = queue.Queue(maxsize=2)
        self._trace = TraceWriter(trace_path) if trace_path is not None else None
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._waiters: list[_FlushWaiter] = []
        self._lock = threading.Lock()  # for counters that more than one thread moves
        self._in_flight = 0  # taken from the queue, not yet written or failed
        self._refused = self._unserializable = self._write_failed = self._written = 0
        self._flushes = self._write_errors = self._traced = self._trace_errors = 0
        self._dropped_reported = 0
        self._last_flush_at: float | None = None
        self._last_error: str | None = None
        self._logged_error: str | None = None
        # Prometheus request metrics, counted here, off the serving path (see prometheus/)
        self._metrics = None
        if metrics_dir is not None:
            from axtui.prometheus.records import RecordMetrics  # prometheus_client: ~60 ms

            try:
                self._metrics = RecordMetrics(metrics_dir, metrics_routes)
            except OSError as err:  # metrics are lost, never the records: said, and on
                self._report(f"metrics in {metrics_dir} are off: {_one_line(err)}")
        self._preparer = threading.Thread(
            target=self._prepare_loop, name="axtui-recorder-prepare", daemon=True
        )
        self._writer = threading.Thread(
            target=self._write_loop, name="axtui-recorder-write", daemon=True
        )
        self._preparer.start()
        self._writer.start()

    # -- the hot path ---------------------------------------------------------------------

    def submit(self, record: RequestRecord) -> bool:
        """Queue a record for writing; False (and counted) when the queue is full or closed."""
        queue_ = self._queue
        n = len(queue_)
        if n >= self._queue_max:
            with self._lock:
                self._refused += 1
            return False
        queue_.append(record)
        if n + 1 == self._batch_max:
            self._wake.set()
        return True

    # -- control ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything submitted so far. False if `timeout` passed first, or if a
        record failed since the previous flush (see `stats()`)."""
        if self._closing.is_set():
            self._join(timeout)
            return not self._queue and not self._in_flight
        waiter = _FlushWaiter()
        with self._lock:
            self._waiters.append(waiter)
        self._wake.set()
        return waiter.done.wait(timeout) and waiter.ok

    def add_metrics_routes(self, routes: Sequence[str], timeout: float | None = None) -> bool:
        """A config reload's routes get their own label in the request metrics of every
        record submitted after this returns (see RecordMetrics.add_routes). True: done."""
        metrics = self._metrics
        if metrics is not None:
            metrics.add_routes(routes)  # one attribute swap, read once per batch
        return True

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting, write what is queued, stop both threads, close the trace."""
        self._queue_max = -1
        self._closing.set()
        self._wake.set()
        if not self._join(timeout):
            return  # still writing: a later close() finishes the job
        if self._queue:  # appended by a submit() that raced the final drain
            lost = len(self._queue)
            self._queue.clear()
            with self._lock:
                self._write_failed += lost
            self._report(f"{lost} records submitted during close were not written")
        if self._trace is not None:
            self._trace.close()
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def _join(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._preparer, self._writer):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not (self._preparer.is_alive() or self._writer.is_alive())

    async def aflush(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> RecorderStats:
        failed = self._unserializable + self._write_failed
        return RecorderStats(
            written=self._written,
            dropped=self._refused + failed,
            refused=self._refused,
            failed=failed,
            queued=len(self._queue) + self._in_flight,
            flushes=self._flushes,
            write_errors=self._write_errors,
            last_flush_at=self._last_flush_at,
            last_error=self._last_error,
            traced=self._traced,
            trace_errors=self._trace_errors,
        )

    # -- stage 1: prepare -------------------------------------------------------------------

    def _prepare_loop(self) -> None:
        while True:
            closing = self._closing.is_set()
            if len(self._queue) < self._batch_max and not self._waiters and not closing:
                self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            closing = self._closing.is_set()
            with self._lock:
                waiters, self._waiters = self._waiters, []
            failures = 0
            n = len(self._queue)  # what was submitted before now, and before any flush()
            while n > 0:
                take = min(n, self._batch_max)
                n -= take
                records = [self._queue.popleft() for _ in range(take)]
                with self._lock:
                    self._in_flight += take
                batch = self._prepare(records)
                failures += take - (batch.size if batch else 0)
                if batch is not None:
                    self._ready.put(batch)  # blocks while the writer is two batches behind
            if waiters:
                self._ready.put(_FlushMarker(waiters, failures))
            if closing and not self._queue:
                self._ready.put(None)
                return

    def _prepare(self, records: list[RequestRecord]) -> _Batch | None:
        if self._metrics is not None:  # every record served, storable or not
            self._metrics.observe(records)
        try:
            batch, jsons = PreparedBatch(), []
            for start in range(0, len(records), _YIELD_EVERY):
                chunk = records[start : start + _YIELD_EVERY]
                chunk_jsons = [record_json(r) for r in chunk]
                batch.extend_records(chunk, chunk_jsons)
                jsons += chunk_jsons
                # The writer needs the GIL back each time SQLite returns: hand it over now
                # rather than after a whole switch interval.
                time.sleep(0)
        except Exception:  # a record the store cannot take: find it, keep the others
            jsons = []
            for r in records:
                try:
                    j = record_json(r)
                    PreparedBatch().extend_records([r], [j])
                except Exception as err:
                    reason = _one_line(err)
                    self._report(f"record {r.id!r} not storable: {reason}", reason)
                    continue
                jsons.append(j)
            bad = len(records) - len(jsons)
            with self._lock:
                self._unserializable += bad
                self._in_flight -= bad
            if not jsons:
                return None
            batch = prepare(jsons)  # the good ones, from their lines (rare: after a failure)
        self._append_trace(jsons)
        return _Batch(jsons, batch)

    def _append_trace(self, jsons: list[str]) -> None:
        if self._trace is None:
            return
        try:
            self._traced += self._trace.write_lines(jsons)
        except (OSError, ValueError) as err:
            self._trace_errors += 1
            self._report(f"trace {self._trace.path}: {_one_line(err)}")

    # -- stage 2: write ---------------------------------------------------------------------

    def _write_loop(self) -> None:
        failures = 0  # records failed since the last flush marker
        while True:
            item = self._ready.get()
            if item is None:
                return
            if isinstance(item, _FlushMarker):
                for waiter in item.waiters:
                    waiter.ok = failures + item.failures == 0
                    waiter.done.set()
                failures = 0
                continue
            failures += self._commit(item)

    def _commit(self, batch: _Batch) -> int:
        """Store a batch; returns how many of its records failed.

        A store error is retried with backoff, and at the last try (or once closing) the
        batch's records are counted as failed. A data error (a duplicate id, a NaN where a
        number must be) is one record's fault: the batch is halved until that record is
        alone, so it fails by itself.
        """
        if batch.prepared is None:
            try:
                batch.prepared = prepare(batch.jsons)
            except ValueError as err:  # a line that reads back as no record (NaN as null)
                if batch.size > 1:
                    return sum(self._commit(half) for half in batch.halves())
                reason = _one_line(err)
                self._report(f"record {id_of(batch.jsons[0])!r} not stored: {reason}", reason)
                return self._give_up(batch)
        tries = 0
        while True:
            with self._lock:
                dropped = self._refused + self._unserializable + self._write_failed
            dropped -= self._dropped_reported
            try:
                self._store.write_prepared(batch.prepared, dropped=dropped)
            except (IntegrityError, DataError) as err:
                self._write_errors += 1
                if batch.size > 1:
                    return sum(self._commit(half) for half in batch.halves())
                reason = _one_line(err)
                self._report(f"record {batch.prepared.ids()[0]!r} not stored: {reason}", reason)
                return self._give_up(batch)
            except Exception as err:  # any other failure of the store: retried, then counted
                tries += 1
                self._write_errors += 1
                self._report(_one_line(err))
                if self._closing.is_set() or tries >= self._max_write_tries:
                    return self._give_up(batch)
                self._closing.wait(min(5.0, self._flush_interval_s * 2 ** (tries - 1)))
                continue
            self._dropped_reported += dropped
            with self._lock:
                self._in_flight -= batch.size
            self._written += batch.size
            self._flushes += 1
            self._last_flush_at = time.time()
            if self._logged_error is not None:
                log.info("recorder: writing again after: %s", self._logged_error)
                self._logged_error = None
            return 0

    def _give_up(self, batch: _Batch) -> int:
        with self._lock:
            self._write_failed += batch.size
            self._in_flight -= batch.size
        return batch.size

    def _report(self, message: str, kind: str | None = None) -> None:
        """Keep `message` as the last error; log it unless the same kind of failure (by
        default, the same message) was the last one logged."""
        self._last_error = message
        kind = kind or message
        if kind != self._logged_error:
            log.error("recorder: %s", message)
            self._logged_error = kind
