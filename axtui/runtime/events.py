"""The engine's events (breaker transitions, budget thresholds) as typed values, and the
writer that puts them in the store's event log off the event loop: the listener appends,
one task writes every `interval_s`, and stop() writes whatever is left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from axtui.store.db import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """Something the engine noticed beside a request: `breaker` (detail: from, to, reason,
    until) or `budget_threshold` (period, threshold, spent_nano, limit_nano)."""

    kind: str
    subject: str  # the deployment, or the budget's scope
    detail: dict[str, Any] = field(hash=False)
    ts: float  # the engine's clock (virtual in a demo or a replay)


@dataclass(frozen=True, slots=True)
class EventWriterStats:
    written: int
    failed: int  # could not be stored (a locked or vanished store); logged each time
    pending: int


class EventWriter:
    def __init__(self, store: Store, *, interval_s: float = 0.25, inline: bool = False) -> None:
        self.store = store
        self.interval_s = interval_s
        # On a virtual clock the writes happen on the loop, time standing still: awaiting a
        # thread lets virtual time run on meanwhile by however long the write takes in real
        # time, which made the timers after it (and what an evaluation saw) vary run to run.
        self.inline = inline
        self.written = 0
        self.failed = 0
        self._pending: deque[EngineEvent] = deque()
        self._task: asyncio.Task | None = None

    def __call__(self, event: EngineEvent) -> None:
        """Queue one event: never blocks."""
        self._pending.append(event)

    def stats(self) -> EventWriterStats:
        return EventWriterStats(self.written, self.failed, len(self._pending))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop the task and write every queued event."""
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
                if self.inline:
                    self.flush()
                else:
                    await asyncio.to_thread(self.flush)

    def flush(self) -> None:
        while self._pending:
            e = self._pending.popleft()
            try:
                self.store.add_event(e.kind, e.subject, e.detail, ts=e.ts)
                self.written += 1
            except Exception as exc:  # a locked store loses an event, never a request
                self.failed += 1
                log.warning("event %s %s not stored: %s", e.kind, e.subject,
                            type(exc).__name__)
