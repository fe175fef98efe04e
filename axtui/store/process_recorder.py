"""The recorder in a child process: the engine's interpreter only serializes and hands off.

In one process, the recorder's threads (JSON, row tuples, rollups; SQLite between) share
the GIL with the event loop, and on two cores that more than halved engine throughput. Here
`submit()` turns a record into its JSON line (orjson, byte-identical to `model_dump_json`)
and appends it to a buffer; a sender thread hands the buffer to a child process every
`HANDOFF_INTERVAL_S` (or as soon as `HANDOFF_MAX` lines wait) as one pipe message. The
child runs the ordinary `Recorder` pipeline on those very lines (they become the `record`
column and the trace lines as they are), and reports its stats back over a second pipe.

Nothing is lost silently: a full buffer (pending here plus handed off but not yet written
or failed in the child) refuses and counts; a child that dies is reported in `stats()`,
its unwritten records counted as failed, and every later submit refused.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows: pipes keep their default size there
    fcntl = None  # type: ignore[assignment]

import orjson
from sqlalchemy.engine import make_url

from axtui.records import RequestRecord
from axtui.store import sqlite
from axtui.store.db import Store, open_store
from axtui.store.ingest import PreparedBatch, prepare, record_json_line
from axtui.store.recorder import _YIELD_EVERY, Recorder, RecorderStats, _Batch, _one_line

log = logging.getLogger(__name__)

HANDOFF_INTERVAL_S = 0.05
HANDOFF_MAX = 2000  # lines per pipe message
STATS_INTERVAL_S = 0.02  # how stale the child's counts (and so the in-flight bound) may get
PIPE_BYTES = 1 << 22  # a handoff of 2,000 records is ~2 MB
CLOSE_TIMEOUT_S = 60.0
# Parent -> child messages, and child -> parent ones; each a tuple led by its kind.
_FLUSH, _CLOSE = "flush", "close"
_FRAME = struct.Struct("!i")  # multiprocessing.Connection's message header (Unix)
_WRITEV = hasattr(os, "writev") and os.name == "posix"  # Windows pipes frame otherwise
_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX")) if _WRITEV else 1024
_LINES_TAG = b"L"  # a raw lines message (every other message is a pickle: b"\x80"...)
_READY, _STATS, _FLUSHED, _CLOSED, _FAILED = "ready", "stats", "flushed", "closed", "failed"
_NO_STATS = RecorderStats(0, 0, 0, 0, 0, 0, 0, None, None, 0, 0)


class _FlushWaiter:
    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class ProcessRecorder:
    """A `Recorder` whose preparing and writing happen in a child process on `url`."""

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
    ) -> None:
        if flush_interval_s <= 0 or batch_max < 1 or queue_max < 1:
            raise ValueError("recorder: interval, batch_max and queue_max must be > 0")
        sa_url = make_url(url)
        if sa_url.get_backend_name() == "sqlite" and sqlite.is_in_memory(sa_url):
            raise ValueError("process recorder: an in-memory database is the child's alone")
        self._queue_max = queue_max  # set to -1 on close or the child's death: submit refuses
        self._handoff_max = min(HANDOFF_MAX, batch_max)
        self._handoff_interval_s = min(HANDOFF_INTERVAL_S, flush_interval_s)
        # JSON lines (each ending in a newline) not yet handed off. A list, not a deque:
        # the sender takes a batch with one slice and one `del`, each atomic under the GIL,
        # while submit() keeps appending at the end.
        self._pending: list[bytes] = []
        self._lock = threading.Lock()  # counters moved by more than one thread
        # Lines handed to the child, and how many of them it has written or failed: the
        # sender alone raises the first, the receiver alone the second.
        self._handed_off = self._acked = 0
        self._refused = self._unserializable = self._lost = 0
        self._drops_reported = 0  # local drops passed on to the child's store counter
        self._child_stats = _NO_STATS
        self._last_error: str | None = None
        self._failure = ""  # why the child gave up, when it said so before exiting
        self._dead = False
        self._clean_exit = False
        self._flush_tokens: list[int] = []
        self._waiters: dict[int, _FlushWaiter] = {}
        self._tokens = itertools.count()
        self._failed_at_flush = 0
        self._wake = threading.Event()
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
            target=_child_main,
            args=(url, options, child_inbox, child_outbox),
            name="axtui-recorder",
            daemon=True,
        )
        self._process.start()
        # Only the child may hold its ends, so its death reads as EOF / a broken pipe here.
        child_inbox.close()
        child_outbox.close()
        _widen_pipe(self._outbox)
        self._sender = threading.Thread(
            target=self._send_loop, name="axtui-recorder-handoff", daemon=True
        )
        self._receiver = threading.Thread(
            target=self._receive_loop, name="axtui-recorder-child", daemon=True
        )
        self._sender.start()
        self._receiver.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    # -- the hot path ---------------------------------------------------------------------

    def submit(self, record: RequestRecord) -> bool:
        """Serialize and buffer a record. False (and counted) when the buffer is full, the
        recorder closed or its process gone (refused), or the record is not serializable
        (failed)."""
        pending = self._pending
        if len(pending) + self._handed_off - self._acked >= self._queue_max:
            with self._lock:
                self._refused += 1
            return False
        try:
            line = record_json_line(record)
        except Exception as err:  # pydantic could not serialize it either
            with self._lock:
                self._unserializable += 1
            self._report(f"record {record.id!r} not storable: {_one_line(err)}")
            return False
        pending.append(line)
        if len(pending) == self._handoff_max:
            self._wake.set()
        return True

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
            self._flush_tokens.append(token)
            local_ok = self._unserializable == self._failed_at_flush
            self._failed_at_flush = self._unserializable
        self._wake.set()
        if not waiter.done.wait(timeout):
            with self._lock:
                self._waiters.pop(token, None)
            return False
        return waiter.ok and local_ok

    def close(self, timeout: float | None = CLOSE_TIMEOUT_S) -> None:
        """Stop accepting, hand off what is buffered, let the child write it all and exit.

        A child still busy after `timeout` is killed and its unwritten records counted."""
        self._queue_max = -1
        self._closing.set()
        self._wake.set()
        if not self._finished.wait(timeout):
            self._report(f"recorder process did not finish within {timeout} s: killed")
            self._process.kill()
            self._finished.wait(5.0)  # the pipe reads EOF once the kernel has reaped it
        self._process.join(5.0)
        self._sender.join(5.0)
        self._receiver.join(5.0)
        if self._pending:  # appended by a submit() that raced the final handoff
            lost = len(self._pending)
            self._pending.clear()
            with self._lock:
                self._lost += lost
            self._report(f"{lost} records submitted during close were not written")
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
            failed = self._unserializable + self._lost + child.failed + child.refused
            refused = self._refused
            in_flight = self._handed_off - self._acked
        return RecorderStats(
            written=child.written,
            dropped=refused + failed,
            refused=refused,
            failed=failed,
            queued=len(self._pending) + in_flight,
            flushes=child.flushes,
            write_errors=child.write_errors,
            last_flush_at=child.last_flush_at,
            last_error=self._last_error,
            traced=child.traced,
            trace_errors=child.trace_errors,
        )

    # -- the sender thread ------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            closing = self._closing.is_set()
            idle = len(self._pending) < self._handoff_max and not self._flush_tokens
            if idle and not closing:
                self._wake.wait(self._handoff_interval_s)
            self._wake.clear()
            closing = self._closing.is_set()
            with self._lock:
                tokens, self._flush_tokens = self._flush_tokens, []
            n = len(self._pending)  # everything submitted before now, and before any flush()
            while n > 0:
                take = min(n, self._handoff_max)
                n -= take
                self._hand_off(take)
            for token in tokens:
                self._send((_FLUSH, token))
            if closing:
                dropped = self._unreported_drops()
                if dropped:  # refused since the last handoff: still for the store's counter
                    self._send_lines([], dropped)
                self._send((_CLOSE,))
                return

    def _hand_off(self, take: int) -> None:
        with self._lock:  # counted before popped: the bound may refuse early, never late
            dead = self._dead
            if not dead:
                self._handed_off += take
        pending = self._pending
        lines = pending[:take]
        del pending[:take]  # only the lines just taken: submits since then sit after them
        if dead:
            with self._lock:
                self._lost += take
            return
        self._send_lines(lines, self._unreported_drops())

    def _unreported_drops(self) -> int:
        dropped = self._refused + self._unserializable - self._drops_reported
        self._drops_reported += dropped
        return dropped

    def _send(self, message: tuple) -> None:
        self._send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    def _send_lines(self, lines: list[bytes], dropped: int) -> None:
        """Lines go raw, not pickled: a header line `L<dropped>`, then the JSON lines (each
        with its newline), as one message in `Connection`'s framing (a 4-byte big-endian
        length, then the bytes). They are written with writev straight from the line
        objects: no per-line Python work, no ~2 MB buffer to build (its fresh pages fault
        in on every handoff), and the GIL is released for the whole copy into the pipe."""
        if self._dead:
            return
        header = b"%s%d\n" % (_LINES_TAG, dropped)
        size = len(header) + sum(map(len, lines))
        if size > 0x7FFFFFFF or not _WRITEV:  # larger messages are framed otherwise
            self._send_bytes(b"".join([header, *lines]))
            return
        try:
            _writev_all(self._outbox.fileno(), [_FRAME.pack(size), header, *lines])
        except (OSError, ValueError):  # the child is gone; the receiver reads why
            self._child_gone()

    def _send_bytes(self, data: bytes) -> None:
        if self._dead:
            return
        try:
            self._outbox.send_bytes(data)
        except (OSError, ValueError):  # the child is gone; the receiver reads why
            self._child_gone()

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
        if kind == _STATS:
            self._take_stats(message[1])
        elif kind == _FLUSHED:
            _, token, ok, stats = message
            self._take_stats(stats)
            with self._lock:
                waiter = self._waiters.pop(token, None)
            if waiter is not None:
                waiter.ok = ok
                waiter.done.set()
        elif kind == _READY:
            self._ready.set()
        elif kind == _CLOSED:
            self._take_stats(message[1])
            self._clean_exit = True
        elif kind == _FAILED:
            self._failure = message[1]

    def _take_stats(self, stats: RecorderStats) -> None:
        with self._lock:
            previous, self._child_stats = self._child_stats, stats
            if not self._dead:
                self._acked = stats.written + stats.failed + stats.refused
        if stats.last_error is not None and stats.last_error != previous.last_error:
            self._last_error = stats.last_error

    def _child_gone(self) -> None:
        with self._lock:
            if self._dead:
                return
            self._dead = True
            self._queue_max = -1
            lost = self._handed_off - self._acked
            self._lost += lost
            self._acked = self._handed_off
        self._wake.set()  # the sender counts what is still buffered as lost
        self._process.join(1.0)
        code = self._process.exitcode
        why = f": {self._failure}" if self._failure else ""
        self._report(
            f"recorder process {self._process.pid} exited (code {code}){why}; "
            f"{lost} records handed to it were not written"
        )

    def _report(self, message: str) -> None:
        self._last_error = message
        log.error("recorder: %s", message)


def _writev_all(fd: int, parts: list[bytes]) -> None:
    """Write every byte of `parts`, in order, IOV_MAX buffers per call, resuming after a
    partial write (a signal can interrupt a large pipe write part-way)."""
    i = 0
    while i < len(parts):
        chunk = parts[i : i + _IOV_MAX]
        done = os.writev(fd, chunk)
        for buf in chunk:
            if done >= len(buf):
                done -= len(buf)
                i += 1
                continue
            parts[i] = memoryview(buf)[done:]  # the rest of a part written in part
            break


def _widen_pipe(conn: Connection) -> None:
    """A handoff in one write, not one per 64 KiB: each write gives up the GIL and each
    return waits to take it back from the event loop (up to a switch interval)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is None:
        return
    for size in (PIPE_BYTES, 1 << 20):
        try:
            fcntl.fcntl(conn.fileno(), set_size, size)
            return
        except OSError:  # above /proc/sys/fs/pipe-max-size: try the usual maximum
            continue


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
) -> Recorder | ProcessRecorder:
    """A recorder of either kind; `process=True` writes from a child process. With
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
        return ProcessRecorder(url, **options)
    store = open_store(store_or_url) if isinstance(store_or_url, str) else store_or_url
    return Recorder(store, **options)


# -- the child process ------------------------------------------------------------------


class _LineRecorder(Recorder):
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
        parsed: list[dict] | None = [] if self._metrics is not None else None
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
                    self._report(f"record {_id_of(line)!r} not storable: {reason}", reason)
                    continue
                good.append(line)
            bad = len(lines) - len(good)
            with self._lock:
                self._unserializable += bad
                self._in_flight -= bad
            if not good:
                return None
            lines, batch = good, prepare(good)
            parsed = None if parsed is None else [orjson.loads(line) for line in good]
        if parsed is not None and self._metrics is not None:
            self._metrics.observe(parsed)
        self._append_trace(lines)
        return _Batch(lines, batch)


def _id_of(line: str) -> str:
    try:
        return str(orjson.loads(line).get("id"))
    except (orjson.JSONDecodeError, AttributeError):
        return "?"


def _progress(s: RecorderStats) -> tuple:
    """What the parent needs to hear about (not `queued`, which moves with every handoff)."""
    return (s.written, s.failed, s.refused, s.write_errors, s.last_error, s.trace_errors)


def _child_main(url: str, options: dict, inbox: Connection, outbox: Connection) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when the writer stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        store = open_store(url)
    except Exception as err:
        outbox.send((_FAILED, f"cannot open the store: {_one_line(err)}"))
        return
    recorder = _LineRecorder(store, **options)
    gc.freeze()  # the imported modules' objects are long-lived: keep them out of collections
    outbox.send((_READY,))
    sent: RecorderStats | None = None
    try:
        while True:
            if inbox.poll(STATS_INTERVAL_S):
                try:
                    data = inbox.recv_bytes()
                except EOFError:  # the parent is gone: write what arrived, then stop
                    break
                if data[:1] == _LINES_TAG:
                    header, _, body = data.partition(b"\n")  # body: lines, each with "\n"
                    recorder.add_lines(body[:-1].decode().split("\n") if body else [],
                                       int(header[1:]))
                else:
                    message = pickle.loads(data)
                    if message[0] == _FLUSH:
                        ok = recorder.flush()
                        sent = recorder.own_stats()
                        outbox.send((_FLUSHED, message[1], ok, sent))
                        continue
                    if message[0] == _CLOSE:
                        break
            stats = recorder.own_stats()
            if sent is None or _progress(stats) != _progress(sent):
                outbox.send((_STATS, stats))
                sent = stats
    finally:
        recorder.close()
        recorder.report_remaining_drops()
        try:
            outbox.send((_CLOSED, recorder.own_stats()))
        except OSError:
            log.warning("recorder process: the parent left before the final stats")
        store.close()
