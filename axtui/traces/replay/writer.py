"""Where a faithful replay's records go: the store's own writers, given the trace's lines.

On an SQLite file the process recorder (store/process_recorder.py) writes them from a
child process: this process copies each line into its handoff ring and goes on reading
the trace, while the child parses the line again, builds the row and the rollups and
writes them, so reading and writing run on both cores. `sync()` returns once everything
handed over is in the store (the alert evaluator reads the rollups right after). An
in-memory or non-SQLite store is written here, in batches (the child could not share it).
"""

from __future__ import annotations

import logging

from axtui.store.db import Store
from axtui.store.ingest import PreparedBatch, request_row

log = logging.getLogger(__name__)
BATCH = 2000  # records per transaction, written here
SYNC_BYTES = 16 << 20  # handed over without a sync: a quarter of the handoff ring


class StoreWriteError(RuntimeError):
    """The store did not take every record: the replay's numbers would be wrong."""


class InlineWriter:
    """Rows and rollups prepared and written in this process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch = PreparedBatch()

    def add(self, r: dict, line: bytes) -> None:
        self.batch.rows.append(request_row(r, line.decode()))
        self.batch.delta.add(r)
        if len(self.batch.rows) >= BATCH:
            self.sync()

    def sync(self) -> None:
        if self.batch.rows:
            self.store.write_prepared(self.batch)
            self.batch = PreparedBatch()

    def close(self) -> None:
        self.sync()


class ChildWriter:
    """The lines handed to a process recorder writing `url` from its own process."""

    def __init__(self, url: str, handoff_dir: str) -> None:
        from axtui.store.process_recorder import ProcessRecorder

        self.recorder = ProcessRecorder(url, handoff_dir=handoff_dir, flush_interval_s=0.02,
                                        batch_max=BATCH)
        self._since_sync = 0
        self.sent = 0

    def add(self, r: dict, line: bytes) -> None:
        if self._since_sync >= SYNC_BYTES:
            self.sync()  # keep the ring from filling: the recorder would drop, not wait
        line += b"\n"
        if not self.recorder.submit_line(line):
            self.sync()
            if not self.recorder.submit_line(line):
                raise StoreWriteError(f"record {r['id']!r} ({len(line):,} bytes) does not "
                                      "fit the store writer's handoff ring")
        self._since_sync += len(line)
        self.sent += 1

    def sync(self) -> None:
        self._since_sync = 0
        if not self.recorder.flush():
            s = self.recorder.stats()
            raise StoreWriteError(f"the store writer failed after {s.written} of "
                                  f"{self.sent} records: {s.last_error or 'it exited'}")

    def close(self) -> None:
        self.recorder.close()


def make_writer(store: Store, url: str, handoff_dir: str) -> InlineWriter | ChildWriter:
    from sqlalchemy.engine import make_url

    from axtui.store import sqlite

    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite" or sqlite.is_in_memory(sa_url):
        return InlineWriter(store)
    return ChildWriter(url, handoff_dir)
