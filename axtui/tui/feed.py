"""Where the console's data comes from: a store read in the producer's thread, and the child
process that writes it (the demo engine, or a gateway). No textual here.

Modes:
- demo:    a child `axtui demo --live` (engine + synthetic traffic) writes a fresh store;
- console: a child `axtui serve --config F --listen L` writes the config's store (or none:
           without --listen the console only reads the store);
- attach:  no child; other `axtui serve` processes write the store.
The console's process only reads (snapshots, the live tail) and, for actions, writes the
store's control plane; it never routes a request, so rendering and routing never share a GIL.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the demo's child starts before the store and the models are imported
    from axtui.config import Config
    from axtui.snapshot import Snapshot
    from axtui.tui.tail import TailLine

log = logging.getLogger(__name__)

TAIL_BACKLOG = 40  # records the live tail shows from before the console opened
WINDOW_S = 60.0  # the pulse and the deployments' rates: the last minute, for an on-call view
# the most records one frame carries; beyond that the tail skips ahead (and says how many):
# at 3 frames a second that is 300 lines a second, more than anyone reads
TAIL_PAGE = 100
READER_CACHE_KIB = 2048  # SQLite page cache per connection: the console only reads

Builder = Callable[..., "Snapshot"]


class FeedError(Exception):
    """One line saying why a frame could not be made (shown in a toast, the header goes STALE)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """What one fetch produced: a snapshot and the live tail's new lines."""

    snapshot: Snapshot
    tail: tuple[TailLine, ...] = ()
    skipped: int = 0  # records the tail jumped over (more than a page arrived)
    fetched_at: float = 0.0  # wall clock when the fetch finished


PARENT_ENV = "AXTUI_PARENT_PID"


@dataclass
class Child:
    """A process the console started (the demo engine or a gateway), with its log file."""

    argv: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        if self.proc is not None:  # started early (the demo's child): once
            return
        # the console's pid, so a child that starts after the console already died knows
        env = {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}
        with open(self.log_path, "ab") as out:
            # its own session: a ctrl-c in the terminal reaches the console, which stops
            # the child in order (the recorder flushes) instead of killing it mid-write
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out, env=env, start_new_session=True)

    def problem(self) -> str | None:
        if self.proc is None or self.proc.poll() is None:
            return None
        return (f"axtui {self.argv[3]} exited with code {self.proc.returncode} "
                f"(log: {self.log_path})")

    def stop(self, timeout: float = 10.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("child %s did not stop in %.0fs: killing it", p.pid, timeout)
            p.kill()
            p.wait(5)


@dataclass
class StoreFeed:
    """Snapshots and the live tail, read from one store. `fetch` runs in the producer's
    thread, one call at a time; nothing here touches the UI."""

    store_url: str
    config: Config
    mode: str  # LIVE, ATTACHED, REPLAY xN: the header's first word
    where: str = ""  # what the header shows beside the mode (demo, 127.0.0.1:4000, a file)
    builder: Builder | None = None  # tests: (store, config) -> Snapshot
    spend_range_s: float = 3600.0  # the spend chart's range (the UI sets it; read per fetch)
    children: list[Child] = field(default_factory=list)
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    _store: object | None = field(default=None, init=False, repr=False)
    # a SnapshotBuilder: keeps gate verdicts between builds
    _snapshots: object | None = field(default=None, init=False, repr=False)
    _cursor: int | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def store(self):
        """The store, opened on first use (in the producer's thread, never the UI's)."""
        if self._store is None:
            from axtui.store.db import open_store

            try:
                # a reader: a small page cache per pooled connection keeps RSS flat
                self._store = open_store(self.store_url, cache_kib=READER_CACHE_KIB)
            except Exception as e:  # a bad URL or an unreadable file: one line
                raise FeedError(f"cannot open store {self.store_url}: {e}") from None
        return self._store

    def start(self) -> None:
        for c in self.children:
            c.start()

    def fetch(self) -> Frame:
        if not self._lock.acquire(blocking=False):  # the producer never overlaps; say so if it did
            raise FeedError("a fetch is already running")
        try:
            for c in self.children:
                problem = c.problem()
                if problem:
                    raise FeedError(problem)
            store = self.store
            snap = self._build(store)
            lines, skipped = self._tail(store, snap.tail_cursor)
            return Frame(snap, lines, skipped, time.time())
        finally:
            self._lock.release()

    def _build(self, store) -> Snapshot:
        if self.builder is not None:
            return self.builder(store, self.config)
        if self._snapshots is None:
            from axtui.snapshot.build import SnapshotBuilder

            self._snapshots = SnapshotBuilder(store, self.config, window_s=WINDOW_S)
        self._snapshots.spend_range_s = self.spend_range_s
        return self._snapshots.build()

    def _tail(self, store, tail_cursor: int) -> tuple[tuple[TailLine, ...], int]:
        """Lines for the records after the last frame's, up to the snapshot's cursor (one
        page at most)."""
        skipped = 0
        if self._cursor is None:
            self._cursor = max(0, tail_cursor - TAIL_BACKLOG)
        if tail_cursor - self._cursor > TAIL_PAGE:
            skipped = tail_cursor - TAIL_PAGE - self._cursor
            self._cursor = tail_cursor - TAIL_PAGE
        if tail_cursor <= self._cursor:
            return (), skipped
        from axtui.tui.tail import tail_line

        raw, self._cursor = store.record_json_after(self._cursor, limit=TAIL_PAGE)
        return tuple(tail_line(r) for r in raw), skipped

    def close(self) -> None:
        for c in self.children:
            c.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        for fn in self.cleanup:
            fn()


def _axtui(*args: str) -> list[str]:
    return [sys.executable, "-m", "axtui.cli.main", *args]


def demo_feed(rate: float = 30.0, store_url: str | None = None, incident: str | None = None,
              seed: int = 7) -> StoreFeed:
    """The built-in demo: a child engine with live traffic writing a fresh store. The child
    starts here, before this process imports the config and the store: its own start-up
    (~1 s to the first record) is most of the console's time to live data."""
    workdir = Path(tempfile.mkdtemp(prefix="axtui-console-"))
    url = store_url or f"sqlite:///{workdir / 'demo.db'}"
    argv = _axtui("demo", "--live", "--rate", str(rate), "--store", url, "--seed", str(seed))
    if incident:
        argv += ["--incident", incident]
    child = Child(argv, workdir / "demo.log")
    child.start()
    from axtui.config import load_config

    feed = StoreFeed(url, load_config(None), "LIVE", "demo", children=[child])
    feed.cleanup.append(lambda: _remove_workdir(child, workdir))
    return feed


def _remove_workdir(child: Child, workdir: Path) -> None:
    """The child's folder goes when it stopped cleanly; kept otherwise: its log says why."""
    if child.proc is None or child.proc.returncode == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log.warning("%s failed (code %s); its log is in %s", " ".join(child.argv[3:5]),
                    child.proc.returncode, workdir)


def console_feed(config: str, listen: str | None, store_url: str | None) -> StoreFeed:
    """A real config; with `listen`, the gateway serves traffic as a child process."""
    from axtui.config import load_config

    cfg = load_config(config)
    url = store_url or cfg.store.url
    feed = StoreFeed(url, cfg, "LIVE" if listen else "ATTACHED", listen or Path(config).name)
    if listen:
        logdir = Path(tempfile.mkdtemp(prefix="axtui-console-"))
        child = Child(_axtui("serve", "--config", str(config), "--listen", listen,
                             "--store", url), logdir / "serve.log")
        feed.children.append(child)
        feed.cleanup.append(lambda: _remove_workdir(child, logdir))
    return feed


def attach_feed(store_url: str, config: str | None = None) -> StoreFeed:
    """A store other processes write; the config names routes and budgets (the demo's by
    default)."""
    from axtui.config import load_config

    return StoreFeed(store_url, load_config(config), "ATTACHED", store_url)
