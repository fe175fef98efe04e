"""The engine's events (breaker transitions, budget thresholds) into the store's event log,
written off the event loop: a listener appends, one task writes every `interval_s`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from axtui.clock import Clock
    from axtui.store.db import Store

log = logging.getLogger(__name__)


class EventLog:
    def __init__(self, store: Store, clock: Clock, *, interval_s: float = 0.25) -> None:
        self.store = store
        self.clock = clock
        self.interval_s = interval_s
        self.written = 0
        self.failed = 0
        self._pending: deque[tuple[str, str, dict, float]] = deque()
        self._task: asyncio.Task | None = None

    def __call__(self, kind: str, subject: str, detail: dict) -> None:
        """An Engine.on_event listener: never blocks."""
        self._pending.append((kind, subject, detail, self.clock.now()))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.flush)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self._pending:
                await asyncio.to_thread(self.flush)

    def flush(self) -> None:
        while self._pending:
            kind, subject, detail, ts = self._pending.popleft()
            try:
                self.store.add_event(kind, subject, detail, ts=ts)
                self.written += 1
            except Exception as e:  # a locked store loses an event, never a request
                self.failed += 1
                log.warning("event %s %s not stored: %s", kind, subject, type(e).__name__)
