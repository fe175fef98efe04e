"""Where a faithful replay's records go: the store's own batch write (ingest.py), given
the records' fields and lines. `sync()` returns once everything added is in the store (the
alert evaluator reads the rollups right after). Four writers (AXTUI_REPLAY_WRITER):

- `rollups` (the default for a scratch store, i.e. a headless replay without `--store`):
  only the alert evaluator reads that store, and it reads rollups, so no rows are written
  (the rows were ~40% of a record's time; bench/bench_replay.py).
- `thread` (the default on a store a console follows): rows and rollups are prepared here and a
  thread of this process writes them; SQLite runs without the GIL, on the other core.
- `inline`: prepared and written here, one thread (an in-memory or non-SQLite store
  always: another connection could not share it).
- `child`: the lines go to a child process that parses them again and writes them. It
  costs a parse a record twice, pipes ~1 KB a record and starts a forkserver; measured
  side by side (bench/bench_replay.py --writers), it was never the fastest, so it is
  kept only on request.
"""

from __future__ import annotations

import contextlib
import logging
import queue

from axtui.store.db import Store
from axtui.store.ingest import PreparedBatch, request_row
from axtui.store.rollups import RollupDelta

log = logging.getLogger(__name__)
BATCH = 2000  # records per transaction, written here


class StoreWriteError(RuntimeError):
    """The store did not take every record: the replay's numbers would be wrong."""


class InlineWriter:
    """Rows and rollups prepared and written in this process, one thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch = PreparedBatch()

    def add(self, r: dict, line: bytes) -> None:
        self.batch.rows.append(request_row(r, line.decode()))
        self.batch.delta.add(r)
        if len(self.batch.rows) >= BATCH:
            self.sync()

    def sync(self, upto: float | None = None) -> None:
        """Write what was added (every resolution: `upto` is the rollup writer's)."""
        if self.batch.rows:
            self.store.write_prepared(self.batch)
            self.batch = PreparedBatch()

    def close(self) -> None:
        self.sync()


class RollupWriter:
    """A scratch store's writer (a headless replay: no `--store`, nobody but the alert
    evaluator reads it, and it reads rollups): the records are folded into rollups here and
    written, with the recorder's counters, at each `sync()`; no rows, no JSON, no thread.
    As the counterfactual's scratch store (scratch.py). Hours and days are written once a
    read could see them (scratch.CoarseHold): `sync(upto)` before a read at `upto`."""

    def __init__(self, store: Store) -> None:
        from axtui.traces.replay.scratch import CoarseHold

        self.store = store
        self.delta = RollupDelta()
        self.pending = 0
        self.hold = CoarseHold()

    def add(self, r: dict, line: bytes) -> None:
        self.delta.add(r)
        self.pending += 1

    def sync(self, upto: float | None = None) -> None:
        """Write what is held that a read at `upto` could see (None: everything)."""
        from axtui.traces.replay.scratch import write_rollups

        if not self.pending and not self.hold.due(upto):
            return
        try:
            write_rollups(self.store, self.delta, self.pending, self.hold, upto)
        except Exception as e:  # the replay's numbers would be wrong: it stops, saying why
            raise StoreWriteError(f"the replay's store writer failed: "
                                  f"{_one_line(e).decode()}") from e
        self.delta, self.pending = RollupDelta(), 0

    def close(self) -> None:
        """Write what is held. Never raises: a replay that failed keeps its own error."""
        try:
            self.sync()
        except StoreWriteError as e:
            log.warning("replay writer: %s", e)


class ThreadWriter:
    """Rows and rollups prepared in this thread, written by another: SQLite inserts with
    the GIL released, so the store's half of a record runs on the second core while this
    thread reads on. Rows go over every THREAD_BATCH records, each batch one multi-row
    statement (so one GIL hand-back; the switch interval is shortened while this runs, so
    the writer never waits 5 ms for the GIL). The rollups are summed here until `sync()`
    (before each alert evaluation) and then written once: adding a delta costs the same
    for 30 records as for 3,000, and was most of a small batch's cost."""

    def __init__(self, store: Store) -> None:
        import sys
        import threading

        self.store = store
        self.rows: list[tuple] = []
        self.delta = RollupDelta()
        self.sent = 0
        self.written = 0  # by the thread
        self.closed = False
        self._error: str | None = None
        # bounded: a writer behind holds the reading up rather than memory growing
        self._todo: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._thread = threading.Thread(target=self._run, name="axtui-replay-writer",
                                        daemon=True)
        self._thread.start()

    def add(self, r: dict, line: bytes) -> None:
        rows = self.rows
        rows.append(request_row(r, line.decode()))
        self.delta.add(r)
        if len(rows) >= THREAD_BATCH:
            self._hand_over(with_rollups=False)

    def _hand_over(self, *, with_rollups: bool) -> None:
        if self._error is not None:
            raise StoreWriteError(f"the replay's store writer failed: {self._error}")
        batch = PreparedBatch()
        batch.rows, self.rows = self.rows, []
        if with_rollups:
            batch.delta, self.delta = self.delta, RollupDelta()
        self.sent += len(batch)
        self._todo.put(batch)

    def _run(self) -> None:
        while (batch := self._todo.get()) is not None:
            try:
                if self._error is None:  # after a failure: drained, never written
                    self.store.write_prepared(batch, rows_per_statement=THREAD_ROWS_PER_STATEMENT)
                    self.written += len(batch)
            except Exception as e:  # the replay raises it at its next sync or hand-over
                log.exception("replay writer failed")
                self._error = _one_line(e).decode()
            finally:
                self._todo.task_done()
        self._todo.task_done()

    def sync(self, upto: float | None = None) -> None:
        """Return once every record added is in the store, with its rollups (every
        resolution: `upto` is the rollup writer's)."""
        if self.rows or self.delta.groups:
            self._hand_over(with_rollups=True)
        self._todo.join()
        if self._error is not None:
            raise StoreWriteError(f"the replay's store writer failed: {self._error}")
        if self.written != self.sent:
            raise StoreWriteError(f"the replay's store writer wrote {self.written} of "
                                  f"{self.sent} records")

    def close(self) -> None:
        """Write what is held (unless the writer failed) and stop the thread. Never raises:
        a replay that failed keeps its own error."""
        import sys

        if self.closed:
            return
        self.closed = True
        try:
            if self._error is None:
                self.sync()
        except StoreWriteError as e:
            log.warning("replay writer: %s", e)
        finally:
            self._todo.put(None)
            self._thread.join()
            sys.setswitchinterval(self._switch)


# Rows a transaction: few, so that the batch an evaluation waits for (the one it hands
# over) takes a few ms to write, not tens.
THREAD_BATCH = 500
QUEUED_BATCHES = 8  # batches waiting for the writer at most (~5 MB)
THREAD_ROWS_PER_STATEMENT = 1000  # a batch is one statement: one GIL hand-back
SWITCH_INTERVAL_S = 0.0005


class ChildWriter:
    """The lines sent to a child process that writes them to `url`: this process joins
    them into chunks (a thread of its own sends them, so a child busy in SQLite never
    holds up the reading); the child parses, prepares and writes, one thread, big
    transactions."""

    def __init__(self, url: str) -> None:
        import multiprocessing
        import threading

        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods
                                          else "spawn")
        if "forkserver" in methods:
            ctx.set_forkserver_preload([__name__])  # the store's imports, once per server
        self._conn, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_child_main, args=(url, theirs),
                                 name="axtui-replay-writer", daemon=True)
        self._proc.start()
        theirs.close()  # only the child holds its end: its death reads as EOF here
        self._lines: list[bytes] = []
        # bounded: a child behind holds this process up rather than its memory growing
        self._out: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._send_error: BaseException | None = None
        self._sender = threading.Thread(target=self._send_loop, name="axtui-replay-send",
                                        daemon=True)
        self._sender.start()
        self.sent = 0
        self.closed = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def add(self, r: dict, line: bytes) -> None:
        self._lines.append(line)
        self.sent += 1
        if len(self._lines) >= CHUNK:
            self._put(b"\n".join(self._lines))
            self._lines = []

    def _put(self, item: bytes) -> None:
        while True:
            try:
                self._out.put(item, timeout=1.0)
                return
            except queue.Full:
                if self._send_error is not None or not self._proc.is_alive():
                    raise self._gone() from self._send_error

    def _gone(self) -> StoreWriteError:
        """The child exited: why, if it said so before it went."""
        with contextlib.suppress(EOFError, OSError):
            while self._conn.poll():
                reply = self._conn.recv_bytes()
                if reply.startswith(b"E"):
                    return StoreWriteError(f"the replay's store writer failed: "
                                           f"{reply[1:].decode()}")
        self._proc.join(5.0)
        return StoreWriteError(f"the replay's store writer exited (code "
                               f"{self._proc.exitcode}) before writing every record")

    def _send_loop(self) -> None:
        while (chunk := self._out.get()) is not None:
            try:
                self._conn.send_bytes(chunk)
            except OSError as e:  # the child is gone: sync() says so
                self._send_error = e
                return

    def sync(self, upto: float | None = None) -> None:
        """Return once every line added is in the store (every resolution: `upto` is the
        rollup writer's)."""
        self._request(SYNC)

    def _request(self, what: bytes) -> None:
        if self._lines:
            self._put(b"\n".join(self._lines))
            self._lines = []
        self._put(what)
        try:
            reply = self._conn.recv_bytes()
        except (EOFError, OSError):
            raise self._gone() from self._send_error
        if reply.startswith(b"E"):
            raise StoreWriteError(f"the replay's store writer failed: {reply[1:].decode()}")
        if int(reply[1:]) != self.sent:
            raise StoreWriteError(f"the replay's store writer wrote {int(reply[1:])} of "
                                  f"{self.sent} records")

    def close(self) -> None:
        """Stop the child (after a sync: it holds nothing then). Never raises: a replay
        that failed keeps its own error."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._proc.is_alive():
                self._request(CLOSE)
        except StoreWriteError as e:
            log.warning("replay writer: %s", e)
        finally:
            with contextlib.suppress(queue.Full):  # a sender that died takes nothing more
                self._out.put(None, timeout=1.0)
            self._sender.join(5.0)
            self._proc.join(5.0)
            if self._proc.is_alive():
                self._proc.kill()
            self._conn.close()


CHUNK = 500  # lines a message
QUEUED_CHUNKS = 40  # chunks waiting to be sent at most (~20 MB of 1 KB lines)
SYNC, CLOSE = b"\x00sync", b"\x00close"  # never a JSON line's first byte


def _child_main(url: str, conn) -> None:
    """The writer: chunks of lines become prepared batches and transactions; SYNC and
    CLOSE write what is held and answer b"K<records written>" (b"E<why>" on failure)."""
    import gc
    import signal

    from axtui.store.db import open_store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this stops
    written = 0
    try:
        store = open_store(url)
    except Exception as e:  # reported to the parent, which raises it
        conn.send_bytes(b"E cannot open the store: " + _one_line(e))
        return
    gc.freeze()  # the imports are long-lived: keep them out of every collection
    batch = PreparedBatch()
    try:
        while True:
            msg = conn.recv_bytes()
            if msg in (SYNC, CLOSE):
                if len(batch):
                    store.write_prepared(batch)
                    written += len(batch)
                    batch = PreparedBatch()
                conn.send_bytes(b"K%d" % written)
                if msg == CLOSE:
                    return
                continue
            batch.extend([line.decode() for line in msg.split(b"\n")])
            if len(batch) >= BATCH_MAX or len(batch) >= BATCH and not conn.poll():
                store.write_prepared(batch)  # idle, or holding enough: write now
                written += len(batch)
                batch = PreparedBatch()
    except EOFError:
        log.warning("replay writer: the replay went away; %d records written", written)
    except Exception as e:  # reported to the parent, which raises it
        log.exception("replay writer failed")
        conn.send_bytes(b"E" + _one_line(e))
    finally:
        store.close()


BATCH_MAX = 20_000  # records held in the writer at most


def _one_line(e: BaseException) -> bytes:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".encode()


WRITERS = ("rollups", "thread", "inline", "child")


class WriterChoiceError(ValueError):
    """AXTUI_REPLAY_WRITER names no writer (one line)."""


def make_writer(store: Store, url: str, kind: str | None = None, *, scratch: bool = False
                ) -> RollupWriter | InlineWriter | ThreadWriter | ChildWriter:
    """The writer `kind` names (default: AXTUI_REPLAY_WRITER, else "thread"; for a
    `scratch` store, else "rollups"); an in-memory or non-SQLite store is always written
    inline (another thread's connection or a child could not share it, and SQLAlchemy's
    other drivers may hold the GIL)."""
    import os

    from sqlalchemy.engine import make_url

    from axtui.store import sqlite

    kind = kind or os.environ.get("AXTUI_REPLAY_WRITER") or ("rollups" if scratch
                                                             else "thread")
    if kind not in WRITERS:
        raise WriterChoiceError(f"AXTUI_REPLAY_WRITER={kind!r}: expected one of "
                                f"{', '.join(WRITERS)}")
    if kind == "rollups":
        return RollupWriter(store)
    sa_url = make_url(url)
    if kind == "inline" or sa_url.get_backend_name() != "sqlite" or sqlite.is_in_memory(sa_url):
        return InlineWriter(store)
    return ThreadWriter(store) if kind == "thread" else ChildWriter(url)
