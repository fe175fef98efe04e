"""The recorder in a child process: the engine's interpreter only serializes and hands off.

In one process, the recorder's threads (JSON, row tuples, rollups; SQLite between) share
the GIL with the event loop, and on two cores that more than halved engine throughput. Here
`submit()` turns a record into its JSON line (orjson, byte-identical to `model_dump_json`)
and copies it into the handoff ring (handoff.py), a file mapped by this process and the
child: no system call, and the line is out of this process before `submit()` returns, so
an answer sent after it has its record even if this process is killed. The child reads the
ring every 20 ms, runs the ordinary `Recorder` pipeline on those very lines
(they become the `record` column and the trace lines as they are), and reports its stats
back over a pipe; flush and close go to it over another.

Nothing is lost silently: a full ring or too many records in flight refuses and counts; a
child that dies is reported in `stats()`, and what it had not written waits in the ring,
which the next start on the store replays (recorder_child.recover).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from axtui.records import RequestRecord
from axtui.store import handoff, sqlite
from axtui.store.db import Store, open_store
from axtui.store.ingest import record_json_line
from axtui.store.recorder import Recorder, RecorderStats, _one_line
from axtui.store.recorder_child import (
    CLOSE,
    CLOSED,
    FAILED,
    FLUSH,
    FLUSHED,
    READY,
    RECOVERED,
    ROUTES,
    ROUTES_ADDED,
    STATS,
    Recovery,
    child_main,
)

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 60.0
_NO_STATS = RecorderStats(0, 0, 0, 0, 0, 0, 0, None, None, 0, 0)


class _FlushWaiter:
    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


@dataclass(frozen=True)
class HandoffStats:
    path: str  # this process's ring file
    capacity: int  # bytes
    used: int  # bytes appended and not yet committed to the store
    full_refusals: int  # records refused because the ring had no room
    recovery: Recovery | None  # what the child replayed from dead rings at start


class ProcessRecorder:
    """A `Recorder` whose preparing and writing happen in a child process on `url`.

    `handoff_dir` holds the rings (default: beside an SQLite file, see handoff.handoff_dir)
    and `handoff_bytes` is this one's size: the records in flight it can hold."""

    def __init__(
        self,
        url: str,
        *,
        flush_interval_s: float = 0.25,
        batch_max: int = 5000,
        queue_max: int = 100_000,
        trace_path: str | Path | None = None,
        start_method: str | None = None,
        metrics_dir: str | Path | None = None,
        metrics_routes: Sequence[str] | None = None,
        handoff_dir: str | Path | None = None,
        handoff_bytes: int = handoff.DEFAULT_CAPACITY,
    ) -> None:
        if flush_interval_s <= 0 or batch_max < 1 or queue_max < 1:
            raise ValueError("recorder: interval, batch_max and queue_max must be > 0")
        sa_url = make_url(url)
        if sa_url.get_backend_name() == "sqlite" and sqlite.is_in_memory(sa_url):
            raise ValueError("process recorder: an in-memory database is the child's alone")
        self._queue_max = queue_max  # set to -1 on close: submit refuses
        directory = Path(handoff_dir).expanduser() if handoff_dir else handoff.handoff_dir(url)
        self._ring = handoff.RingWriter(directory, handoff_bytes)
        self._lock = threading.Lock()  # counters moved by more than one thread
        self._send_lock = threading.Lock()
        self._acked = 0  # lines the child has written or failed (the receiver raises it)
        self._refused = self._unserializable = self._full = 0
        self._refusing = False  # said once per run of refusals, not once per record
        self._child_stats = _NO_STATS
        self._recovery: Recovery | None = None
        self._last_error: str | None = None
        self._failure = ""  # why the child gave up, when it said so before exiting
        self._dead = False
        self._clean_exit = False
        self._waiters: dict[int, _FlushWaiter] = {}
        self._tokens = itertools.count()
        self._failed_at_flush = 0
        self._closing = threading.Event()
        self._ready = threading.Event()
        self._finished = threading.Event()  # the child's pipe closed: it has exited

        ctx = _context(start_method)
        child_inbox, self._outbox = ctx.Pipe(duplex=False)
        self._inbox, child_outbox = ctx.Pipe(duplex=False)
        options = {
            "flush_interval_s": flush_interval_s,
            "batch_max": batch_max,
            "queue_max": queue_max,  # unused there: lines bypass submit(), bounded here
            "trace_path": None if trace_path is None else str(trace_path),
            "metrics_dir": None if metrics_dir is None else str(metrics_dir),  # counted there
            "metrics_routes": None if metrics_routes is None else list(metrics_routes),
        }
        self._process = ctx.Process(
            target=child_main,
            args=(url, options, str(self._ring.path), child_inbox, child_outbox),
            name="axtui-recorder",
            daemon=True,
        )
        self._process.start()
        # Only the child may hold its ends, so its death reads as EOF / a broken pipe here.
        child_inbox.close()
        child_outbox.close()
        self._receiver = threading.Thread(
            target=self._receive_loop, name="axtui-recorder-child", daemon=True
        )
        self._receiver.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def handoff_path(self) -> Path:
        return self._ring.path

    # -- the hot path ---------------------------------------------------------------------

    def submit(self, record: RequestRecord) -> bool:
        """Serialize the record into the handoff ring. False (and counted) when the ring is
        full, too many records wait, or the recorder is closed (refused), or the record is
        not serializable (failed)."""
        ring = self._ring
        if ring.lines - self._acked >= self._queue_max:
            return self._refuse(False)
        try:
            line = record_json_line(record)
        except Exception as err:  # pydantic could not serialize it either
            with self._lock:
                self._unserializable += 1
            self._report(f"record {record.id!r} not storable: {_one_line(err)}")
            self._tell_drops()
            return False
        if not ring.append(line):
            if len(line) > ring.capacity:  # could never fit: say so, not "full"
                with self._lock:
                    self._unserializable += 1
                self._report(f"record {record.id!r} not storable: {len(line):,} bytes, more "
                             f"than the handoff ring's {ring.capacity:,} (store.handoff_mib)")
                self._tell_drops()
                return False
            return self._refuse(True)
        self._refusing = False
        return True

    def _refuse(self, full: bool) -> bool:
        with self._lock:
            self._refused += 1
            self._full += full
        if not self._refusing and self._queue_max >= 0:
            self._refusing = True
            why = (f"the handoff ring {self._ring.path} is full" if full else
                   f"{self._queue_max} records wait to be written")
            self._report(f"refusing records: {why}")
        self._tell_drops()
        return False

    def _tell_drops(self) -> None:
        """The child adds this process's drops to the store's counter."""
        self._ring.set_dropped(self._refused + self._unserializable)

    # -- control ----------------------------------------------------------------------------

    def ready(self, timeout: float | None = None) -> bool:
        """Wait until the child has opened the store (submits are buffered meanwhile);
        False if it could not, or `timeout` passed first."""
        return self._ready.wait(timeout) and not self._dead

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything submitted so far. False if `timeout` passed first, if a record
        failed since the previous flush, or if the child is gone."""
        if self._closing.is_set():
            self._finished.wait(timeout)
            return self._finished.is_set() and not self._dead and self.stats().queued == 0
        waiter = _FlushWaiter()
        token = next(self._tokens)
        with self._lock:
            if self._dead:
                return False
            self._waiters[token] = waiter
            local_ok = self._unserializable == self._failed_at_flush
            self._failed_at_flush = self._unserializable
        self._send((FLUSH, token))
        if not waiter.done.wait(timeout):
            with self._lock:
                self._waiters.pop(token, None)
            return False
        return waiter.ok and local_ok

    def add_metrics_routes(self, routes: Sequence[str], timeout: float | None = 10.0) -> bool:
        """A config reload's routes join the child's request metrics (see
        RecordMetrics.add_routes). Waits for the child's answer, so every record submitted
        after this returns True is counted under its route; False if the child is gone or
        did not answer within `timeout`."""
        waiter = _FlushWaiter()
        token = next(self._tokens)
        with self._lock:
            if self._dead or self._closing.is_set():
                return False
            self._waiters[token] = waiter
        self._send((ROUTES, token, list(routes)))
        if not waiter.done.wait(timeout):
            with self._lock:
                self._waiters.pop(token, None)
            return False
        return waiter.ok

    def close(self, timeout: float | None = CLOSE_TIMEOUT_S) -> None:
        """Stop accepting, let the child write everything in the ring and exit.

        A child still busy after `timeout` is killed; what it had not written stays in the
        ring for the next start on the store."""
        if self._closing.is_set():
            self._finished.wait(timeout)
            return
        self._queue_max = -1
        self._closing.set()
        self._ring.seal()  # no line after this one: the child drains to here and exits
        self._send((CLOSE,))
        if not self._finished.wait(timeout):
            self._report(f"recorder process did not finish within {timeout} s: killed")
            self._process.kill()
            self._finished.wait(5.0)  # the pipe reads EOF once the kernel has reaped it
        self._process.join(5.0)
        self._receiver.join(5.0)
        self._ring.close()
        waiting = self._ring.lines - self._acked
        if waiting and self._ring.path.exists():
            why = f" (the recorder process exited: {self._failure})" if self._failure else ""
            self._report(f"{waiting} records wait in {self._ring.path} for the next start "
                         f"on this store{why}")
        self._outbox.close()

    async def aflush(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float | None = CLOSE_TIMEOUT_S) -> None:
        await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> ProcessRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> RecorderStats:
        with self._lock:  # the child's counts and what they acknowledge move together
            child = self._child_stats
            failed = self._unserializable + child.failed + child.refused
            refused = self._refused
            queued = self._ring.lines - self._acked
        return RecorderStats(
            written=child.written,
            dropped=refused + failed,
            refused=refused,
            failed=failed,
            queued=queued,
            flushes=child.flushes,
            write_errors=child.write_errors,
            last_flush_at=child.last_flush_at,
            last_error=self._last_error,
            traced=child.traced,
            trace_errors=child.trace_errors,
        )

    def handoff_stats(self) -> HandoffStats:
        ring = self._ring
        return HandoffStats(str(ring.path), ring.capacity, ring.used(), self._full,
                            self._recovery)

    # -- to the child -----------------------------------------------------------------------

    def _send(self, message: tuple) -> None:
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        with self._send_lock:
            if self._dead:
                return
            try:
                self._outbox.send_bytes(data)
            except (OSError, ValueError) as err:  # the child is gone: the receiver reports
                log.debug("recorder: %s not sent: %s", message[0], err)  # it at the pipe's EOF

    # -- the receiver thread ----------------------------------------------------------------

    def _receive_loop(self) -> None:
        try:
            while True:
                try:
                    message = self._inbox.recv()
                except (EOFError, OSError):
                    break
                self._receive(message)
        finally:
            if not self._clean_exit:
                self._child_gone()
            self._inbox.close()
            self._finished.set()
            self._ready.set()  # ready() answers now: False, as the child is gone
            with self._lock:
                waiters, self._waiters = list(self._waiters.values()), {}
            for waiter in waiters:
                waiter.done.set()

    def _receive(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == STATS:
            self._take_stats(message[1])
        elif kind == FLUSHED:
            _, token, ok, stats = message
            self._take_stats(stats)
            with self._lock:
                waiter = self._waiters.pop(token, None)
            if waiter is not None:
                waiter.ok = ok
                waiter.done.set()
        elif kind == ROUTES_ADDED:
            with self._lock:
                waiter = self._waiters.pop(message[1], None)
            if waiter is not None:
                waiter.ok = True
                waiter.done.set()
        elif kind == READY:
            self._ready.set()
        elif kind == RECOVERED:
            self._recovery = r = message[1]
            log.warning("recorder: %d records recovered from %d handoff rings left by killed "
                        "processes (%d were already stored)%s", r.written, r.rings,
                        r.duplicates, "; not recovered: " + "; ".join(r.errors) if r.errors
                        else "")
        elif kind == CLOSED:
            self._take_stats(message[1])
            self._clean_exit = True
        elif kind == FAILED:
            self._failure = message[1]

    def _take_stats(self, stats: RecorderStats) -> None:
        with self._lock:
            previous, self._child_stats = self._child_stats, stats
            self._acked = stats.written + stats.failed + stats.refused
        if stats.last_error is not None and stats.last_error != previous.last_error:
            self._last_error = stats.last_error

    def _child_gone(self) -> None:
        with self._lock:
            if self._dead:
                return
            self._dead = True
        self._process.join(1.0)
        code = self._process.exitcode
        why = f": {self._failure}" if self._failure else ""
        waiting = self._ring.lines - self._acked
        self._report(
            f"recorder process {self._process.pid} exited (code {code}){why}; "
            f"{waiting} records wait in {self._ring.path} for the next start on this store"
        )

    def _report(self, message: str) -> None:
        self._last_error = message
        log.error("recorder: %s", message)


def _context(start_method: str | None) -> Any:
    """forkserver where there is one: children fork from a server that has imported the
    store already (spawn re-imports it, ~1 s). Never fork: this process has threads."""
    methods = multiprocessing.get_all_start_methods()
    method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
    if method == "fork":
        raise ValueError("process recorder: fork is unsafe beside threads; use spawn")
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload([__name__])  # takes effect when the server first starts
    return ctx


def make_recorder(
    store_or_url: Store | str,
    *,
    process: bool,
    flush_interval_s: float = 0.25,
    batch_max: int = 5000,
    queue_max: int = 100_000,
    trace_path: str | Path | None = None,
    metrics_dir: str | Path | None = None,
    metrics_routes: Sequence[str] | None = None,
    handoff_dir: str | Path | None = None,
    handoff_bytes: int = handoff.DEFAULT_CAPACITY,
) -> Recorder | ProcessRecorder:
    """A recorder of either kind; `process=True` writes from a child process, through a
    handoff ring in `handoff_dir` (see ProcessRecorder). With
    `metrics_dir`, it also counts Prometheus request metrics there (see prometheus/), with
    any route label not in `metrics_routes` (when given) counted as "(unknown)"."""
    options: dict[str, Any] = {
        "flush_interval_s": flush_interval_s,
        "batch_max": batch_max,
        "queue_max": queue_max,
        "trace_path": trace_path,
        "metrics_dir": metrics_dir,
        "metrics_routes": metrics_routes,
    }
    if process:
        url = store_or_url
        if isinstance(url, Store):  # the child connects itself, credentials included
            url = url.engine.url.render_as_string(hide_password=False)
        return ProcessRecorder(url, handoff_dir=handoff_dir, handoff_bytes=handoff_bytes,
                               **options)
    store = open_store(store_or_url) if isinstance(store_or_url, str) else store_or_url
    return Recorder(store, **options)
