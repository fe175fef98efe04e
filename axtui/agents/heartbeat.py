"""An agent's heartbeat: its row's `heartbeat_at`, rewritten every few wall-clock seconds from a
thread of its own, so a reader can tell a running agent from one whose process died (a
crashed agent is one whose heartbeat stopped without a final state).

A thread, not a task on the agent's loop: the beat must say the process lives whatever the
loop is doing (a long call, a virtual clock that jumps hours), and it wakes only every few
seconds, so it never competes with the loop for the GIL.
"""

from __future__ import annotations

import logging
import threading
import time

from axtui.store import agents as rows
from axtui.store.db import Store

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, store: Store, agent_id: str, run: int, interval_s: float) -> None:
        self._store, self._agent_id, self._run = store, agent_id, run
        self.interval_s = interval_s
        self.failures = 0  # beats that could not be written (logged)
        self.lost = False  # the row belongs to another run now: stop beating
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"axtui-agent-heartbeat-{agent_id}")

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with self._store.begin() as conn:
                    owned = rows.beat(conn, self._agent_id, self._run, time.time())
            except Exception as e:  # the next beat retries; staleness shows if all fail
                self.failures += 1
                log.warning("agent %s: heartbeat failed (%d so far): %s", self._agent_id,
                            self.failures, str(e).splitlines()[0])
                continue
            if not owned:
                self.lost = True
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
