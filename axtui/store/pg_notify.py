"""PostgreSQL's LISTEN/NOTIFY for the control plane: the one module that knows the store may
be PostgreSQL (as sqlite.py knows SQLite).

Every control write NOTIFYs in its own transaction, so PostgreSQL delivers it when (and only
if) the write commits. Each engine's ControlSync holds one listening connection on a thread
and is woken by it, instead of waiting for its next poll; polling stays as a slow safety net
and takes over at full speed while the listening connection is down.

The listener's `state` says which: None while its first connection is being made, "notify"
while LISTEN is up, "polling" after a failure until it is back. `on_state(state)` is told of
each fall-back and each recovery (not of the first connection), from the listener's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

CHANNEL = "axtui_control"
WAIT_S = 0.25  # how long one wait for notifications lasts: bounds how long close() takes
RETRY_S = 1.0  # after a lost connection, reconnect this often (polls cover the gap)


def notify(conn: Connection) -> None:
    """Tell every listener that the control plane moved (delivered at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class ControlListener:
    """LISTENs on its own connection and calls `on_change` (from its thread) for each
    notification, and once after every (re)connect to cover what it may have missed."""

    def __init__(self, engine: Engine, on_change: Callable[[], None],
                 on_state: Callable[[str], None] | None = None) -> None:
        self._engine = engine
        self._on_change = on_change
        self._on_state = on_state
        self.connected = threading.Event()
        self.notifications = 0
        self.errors = 0  # failed connections and lost ones (each retry counts)
        self.drops = 0  # falls back to polling: a first connection failed, or one was lost
        self.last_error: str | None = None
        self.state: str | None = None  # None (connecting), "notify", "polling"
        self.since = time.time()  # wall time of the last change of state
        self.retry_s = RETRY_S  # read while waiting: a change applies to the wait under way
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="axtui-control-listen",
                                        daemon=True)
        self._thread.start()

    def _connect(self):
        dialect = self._engine.dialect
        cargs, cparams = dialect.create_connect_args(self._engine.url)
        conn = dialect.loaded_dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                self.connected.set()
                self._set_state("notify")
                self._on_change()
                while not self._stop.is_set():
                    for _ in conn.notifies(timeout=WAIT_S):
                        self.notifications += 1
                        self._on_change()
            except Exception as err:  # a lost server: count, say it once, poll until back
                self.errors += 1
                first = self.connected.is_set() or self.errors == 1
                self.last_error = f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
                if first:
                    log.warning("control plane: LISTEN connection lost (%s); polling until "
                                "it is back", self.last_error)
                self._set_state("polling")
            finally:
                self.connected.clear()
                if conn is not None:
                    try:
                        conn.close()
                    except Exception as err:  # closing a dead connection: nothing to keep
                        log.debug("control plane: closing the LISTEN connection: %s", err)
            self._wait_to_retry()

    def _wait_to_retry(self) -> None:
        failed_at = time.monotonic()
        while not self._stop.is_set():
            left = self.retry_s - (time.monotonic() - failed_at)
            if left <= 0:
                return
            self._stop.wait(min(left, WAIT_S))

    def _set_state(self, state: str) -> None:
        previous = self.state
        if state == previous:
            return
        now = time.time()
        if state == "polling":
            self.drops += 1
        elif previous == "polling":
            log.info("control plane: LISTEN connection back after %.1fs; notifications again",
                     now - self.since)
        self.state, self.since = state, now
        if self._on_state is not None and (previous is not None or state == "polling"):
            try:
                self._on_state(state)
            except Exception:  # an observer must never stop the listener
                log.exception("control plane: LISTEN state observer failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT_S * 8)
