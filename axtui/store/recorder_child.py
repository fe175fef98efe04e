"""The process recorder's child: drains the handoff ring into the ordinary recorder pipeline.

At start it first replays the store's dead rings (their processes killed), oldest lines
first, skipping ids the store already has; then it follows its own ring. A line's ring
position is marked `committed` only once the store has it (or it is counted as failed), so
a ring left behind by a crash holds exactly what may be missing. When its parent is gone
(the pipe reads EOF) it drains the ring to the parent's last line, then exits.
"""

from __future__ import annotations

import gc
import logging
import pickle
import signal
import time
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import select

from axtui.record_fields import fields_of
from axtui.store.db import Store, open_store
from axtui.store.handoff import RingError, RingReader, dead_rings
from axtui.store.ingest import PreparedBatch, prepare
from axtui.store.recorder import (
    _YIELD_EVERY,
    Recorder,
    RecorderStats,
    _Batch,
    _one_line,
    id_of,
)
from axtui.store.tables import RequestRow

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.02  # how stale the parent's counts (and so its in-flight bound) may get
_ID_CHUNK = 500
# Parent -> child messages, and child -> parent ones; each a tuple led by its kind.
FLUSH, CLOSE, ROUTES = "flush", "close", "routes"
READY, STATS, FLUSHED, CLOSED, FAILED, RECOVERED, ROUTES_ADDED = (
    "ready", "stats", "flushed", "closed", "failed", "recovered", "routes_added")


@dataclass(frozen=True)
class Recovery:
    """What a start found in rings that dead processes left on the store."""

    rings: int = 0  # dead rings replayed (and removed)
    lines: int = 0  # lines found past their `committed` mark
    written: int = 0  # of those, handed to the store (the store had not got them)
    duplicates: int = 0  # already in the store: committed just before the crash
    errors: tuple[str, ...] = ()  # rings that could not be replayed: left for a later start


class LineRecorder(Recorder):
    """The child's recorder: its queue holds the parent's JSON lines, which are stored and
    traced as they are (never serialized again), so both sinks get the parent's bytes."""

    def __init__(self, store: Store, **options: Any) -> None:
        super().__init__(store, **options)
        self._upstream_dropped = 0  # the parent's drops, carried into the store counter

    def add_lines(self, lines: list[str], dropped: int) -> None:
        if dropped:
            with self._lock:  # counted as refused so the next commit adds them to the store
                self._refused += dropped
                self._upstream_dropped += dropped
        self._queue.extend(lines)
        if len(self._queue) >= self._batch_max:
            self._wake.set()

    def own_stats(self) -> RecorderStats:
        """Stats without the parent's drops (the parent counts those itself)."""
        s = self.stats()
        up = self._upstream_dropped
        return replace(s, refused=s.refused - up, dropped=s.dropped - up)

    def acked(self) -> int:
        """Lines taken in that are written or failed: none of them is waiting any more."""
        s = self.own_stats()
        return s.written + s.failed + s.refused

    def report_remaining_drops(self) -> None:
        """After close: drops that no commit carried still reach the store's counter."""
        with self._lock:
            rest = self._refused + self._unserializable + self._write_failed
        rest -= self._dropped_reported
        if rest <= 0:
            return
        try:
            self._store.write_prepared(PreparedBatch(), dropped=rest)
        except Exception as err:  # the store is failing: the count stays in stats()
            self._report(f"could not add {rest} drops to the store: {_one_line(err)}")
            return
        self._dropped_reported += rest

    def _prepare(self, lines: list[str]) -> _Batch | None:  # type: ignore[override]
        parsed: list | None = [] if self._metrics is not None else None
        try:
            batch = PreparedBatch()
            for start in range(0, len(lines), _YIELD_EVERY):
                batch.extend(lines[start : start + _YIELD_EVERY], parsed)
                time.sleep(0)  # let the writer thread back in, as Recorder does
        except Exception:  # a line the store cannot take: find it, keep the others
            good = []
            for line in lines:
                try:
                    prepare([line])
                except Exception as err:
                    reason = _one_line(err)
                    self._report(f"record {id_of(line)!r} not storable: {reason}", reason)
                    continue
                good.append(line)
            bad = len(lines) - len(good)
            with self._lock:
                self._unserializable += bad
                self._in_flight -= bad
            if not good:
                return None
            lines, batch = good, prepare(good)
            parsed = None if parsed is None else [fields_of(line) for line in good]
        if parsed is not None and self._metrics is not None:
            self._metrics.observe(parsed)
        self._append_trace(lines)
        return _Batch(lines, batch)


class _Drain:
    """Moves lines from the ring into the recorder, and the ring's `committed` mark after
    the recorder has dealt with them."""

    def __init__(self, ring: RingReader, recorder: LineRecorder) -> None:
        self.ring = ring
        self.recorder = recorder
        self.added = recorder.acked()  # recovered lines came first, all dealt with
        self.marks: deque[tuple[int, int]] = deque()  # (lines added by then, ring position)

    def take(self) -> None:
        for lines, end in self.ring.lines():
            self._add(lines)
            self.marks.append((self.added, end))
        if self.ring.new_drops():
            self._add([])

    def _add(self, lines: list[str]) -> None:
        drops = self.ring.new_drops()
        self.recorder.add_lines(lines, drops)
        self.ring.drops_reported(drops)
        self.added += len(lines)

    def commit(self) -> None:
        acked, position = self.recorder.acked(), None
        while self.marks and self.marks[0][0] <= acked:
            position = self.marks.popleft()[1]
        if position is not None:
            self.ring.commit(position)

    def drained(self) -> bool:
        return not self.marks and self.ring.committed >= self.ring.head()


def existing_ids(store: Store, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with store.connect() as conn:
        for i in range(0, len(ids), _ID_CHUNK):
            chunk = ids[i : i + _ID_CHUNK]
            found.update(conn.execute(select(RequestRow.id).where(RequestRow.id.in_(chunk)))
                         .scalars())
    return found


def recover(directory: Path, store: Store, recorder: LineRecorder, *,
            skip: Path | None = None) -> Recovery:
    """Replay every dead ring in `directory` into `recorder` and remove it once written."""
    rings = lines_n = written = duplicates = 0
    errors: list[str] = []
    for ring in dead_rings(directory, skip=skip):
        try:
            lines = [line for chunk, _ in ring.lines() for line in chunk]
            ids = [id_of(line) for line in lines]
            have = existing_ids(store, ids)
            fresh = [line for line, id_ in zip(lines, ids, strict=True) if id_ not in have]
            drops = ring.new_drops()
            recorder.add_lines(fresh, drops)
            if not recorder.flush():  # a record failed: counted in stats, named in the log
                log.error("recorder: recovering %s: %s", ring.path, recorder.stats().last_error)
            ring.drops_reported(drops)
        except Exception as err:  # the store refused: the ring stays for a later start
            errors.append(f"{ring.path}: {_one_line(err)}")
            log.error("recorder: could not recover %s: %s", ring.path, _one_line(err))
            ring.close()
            continue
        ring.remove()
        rings += 1
        lines_n += len(lines)
        written += len(fresh)
        duplicates += len(lines) - len(fresh)
        log.info("recorder: recovered %d records from %s (%d were already stored)",
                 len(fresh), ring.path, len(lines) - len(fresh))  # the parent says it too
    return Recovery(rings, lines_n, written, duplicates, tuple(errors))


def _progress(s: RecorderStats) -> tuple:
    """What the parent needs to hear about (not `queued`, which moves all the time)."""
    return (s.written, s.failed, s.refused, s.write_errors, s.last_error, s.trace_errors)


def child_main(url: str, options: dict, ring_path: str, inbox: Connection,
               outbox: Connection) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when the writer stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ring = RingReader(ring_path)
    except RingError as err:
        outbox.send((FAILED, str(err)))
        return
    try:
        store = open_store(url)
    except Exception as err:
        ring.close()
        outbox.send((FAILED, f"cannot open the store: {_one_line(err)}"))
        return
    recorder = LineRecorder(store, **options)
    gc.freeze()  # the imported modules' objects are long-lived: keep them out of collections
    outbox.send((READY,))
    recovery = recover(Path(ring_path).parent, store, recorder, skip=Path(ring_path))
    if recovery.rings or recovery.errors:
        outbox.send((RECOVERED, recovery))
    drain = _Drain(ring, recorder)
    sent: RecorderStats | None = None
    last_line = False  # the parent has appended its last line: a drained ring can go
    try:
        while True:
            message = None
            if inbox.poll(STATS_INTERVAL_S):
                try:
                    message = pickle.loads(inbox.recv_bytes())
                except EOFError:  # the parent is gone: what it appended is all there is
                    last_line = True
            drain.take()
            if last_line or (message is not None and message[0] == CLOSE):
                last_line = True
                break
            if message is not None and message[0] == ROUTES:  # a config reload's
                recorder.add_metrics_routes(message[2])
                outbox.send((ROUTES_ADDED, message[1]))
                continue
            if message is not None and message[0] == FLUSH:
                ok = recorder.flush()
                drain.commit()
                sent = recorder.own_stats()
                outbox.send((FLUSHED, message[1], ok, sent))
                continue
            drain.commit()
            stats = recorder.own_stats()
            if sent is None or _progress(stats) != _progress(sent):
                outbox.send((STATS, stats))
                sent = stats
    finally:
        recorder.close()
        recorder.report_remaining_drops()
        drain.commit()
        if last_line and drain.drained():
            ring.remove()
        else:
            ring.close()  # the next start on the store writes what is left
        try:
            outbox.send((CLOSED, recorder.own_stats()))
        except OSError:
            log.warning("recorder process: the parent left before the final stats")
        store.close()
