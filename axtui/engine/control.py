"""The control plane as the engine sees it: operator state (drains now; flags and kills
later) lives in the store, versioned, so every engine sharing the store applies a change
within one poll (100 ms by default), and the same operation works from the CLI, the admin
API or the console.

Operations write through here (one place, audited as events); `ControlSync` polls the
store's control version and applies the snapshot to an engine when it moved. On PostgreSQL
it is also woken by the store's notifications (LISTEN/NOTIFY), so a change applies at its
commit; the poll then slows to a safety net (LISTEN_POLL_S) while the listener is connected.
`status()` says which (`control_sync` in /readyz and the heartbeat): "notify", or "polling"
(SQLite, or PostgreSQL while the LISTEN connection is down); `problem()` is the one line to
show while a process that should be listening is polling instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from axtui.clock import VirtualClock

if TYPE_CHECKING:
    from axtui.engine.engine import Engine
    from axtui.store.control import ControlSnapshot
    from axtui.store.db import Store

log = logging.getLogger(__name__)

DRAIN_PREFIX = "drain:"
LISTEN_POLL_S = 1.0  # the safety poll while notifications arrive (a missed one is found)


def drain(store: Store, deployment: str, reason: str, by: str) -> int:
    """Take `deployment` out of every route of every engine sharing `store`, until undrained.
    Returns the control version written."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a drain needs a reason")
    now = store.clock.now()
    version = store.set_control(DRAIN_PREFIX + deployment,
                                {"reason": reason, "by": by, "at": now}, by=by)
    store.add_event("drain", deployment, {"reason": reason, "by": by}, ts=now)
    return version


def undrain(store: Store, deployment: str, by: str) -> bool:
    """Put `deployment` back; False if it was not drained."""
    gone = store.delete_control(DRAIN_PREFIX + deployment)
    if gone:
        store.add_event("undrain", deployment, {"by": by})
    return gone


def drains(snapshot: ControlSnapshot) -> dict[str, dict]:
    return {k[len(DRAIN_PREFIX):]: e.value for k, e in snapshot.entries.items()
            if k.startswith(DRAIN_PREFIX)}


class ControlTarget(Protocol):
    def apply_control(self, snapshot: ControlSnapshot) -> None: ...


class ControlSync:
    """Keeps a target (an engine, or a host fanning out to several) in step with the store's
    control plane. Snapshots are read off the event loop and applied on it, and only ever
    forward: a poll that read an older version than one already applied is discarded, so a
    slow poll cannot undo an operator's change that the host applied right after writing."""

    def __init__(self, target: ControlTarget | Engine, store: Store, *,
                 interval_s: float = 0.1, virtual_time: bool = False) -> None:
        self.target = target
        # On a virtual-time loop a read in a thread lets the loop jump ahead, so polls read
        # inline (virtual time stands still) and at most every `interval_s` of real time:
        # operators act in real time, and a demo's 5 virtual minutes last about a second.
        self.virtual_time = virtual_time
        self._polled_real = -float("inf")
        self.store = store
        self.interval_s = interval_s
        self.version = -1
        self.applied_at: float | None = None
        self.errors = 0
        self.last_error: str | None = None
        self._task: asyncio.Task | None = None
        self._listener = None  # the store's ControlListener (PostgreSQL), while running
        self._woken: asyncio.Event | None = None
        self.wakes = 0
        self._started_wall = time.time()
        # told on the loop when LISTEN falls back to polling or is restored (the host turns
        # it into a control_sync event)
        self.on_mode_change: Callable[[dict[str, Any]], None] | None = None

    @property
    def listening(self) -> bool:
        """True while a notification connection is up (PostgreSQL)."""
        return self._listener is not None and self._listener.connected.is_set()

    @property
    def listener(self) -> Any:
        """The store's ControlListener while running on PostgreSQL (else None)."""
        return self._listener

    def status(self) -> dict[str, Any]:
        """How changes reach this process: `mode` notify (LISTEN up) or polling, `since`
        (wall time of the last change of mode), `listen` (this store and process use
        LISTEN/NOTIFY), `drops` (falls back to polling), `last_error` (the listener's)."""
        listener = self._listener
        if listener is None:
            return {"mode": "polling", "since": self._started_wall, "listen": False,
                    "drops": 0, "last_error": None}
        return {"mode": "notify" if listener.state == "notify" else "polling",
                "since": listener.since, "listen": True, "drops": listener.drops,
                "last_error": listener.last_error}

    def problem(self) -> str | None:
        """One line while the LISTEN connection is down and this process polls instead."""
        listener = self._listener
        if listener is None or listener.state != "polling":
            return None
        return (f"control plane: LISTEN connection down, polling the store every "
                f"{self.interval_s:g}s ({listener.last_error})")

    def fetch(self) -> ControlSnapshot | None:
        """The store's snapshot if its version moved past the applied one (blocking read)."""
        if self.store.control_version() == self.version:
            return None
        return self.store.control_snapshot()

    def apply(self, snapshot: ControlSnapshot) -> bool:
        """Apply `snapshot` unless one as new or newer is already applied."""
        if snapshot.version <= self.version:
            return False
        self.target.apply_control(snapshot)
        self.version = snapshot.version
        self.applied_at = self.store.clock.now()
        return True

    def sync_now(self) -> bool:
        """Fetch and apply in one blocking call (at start-up, or with no loop running)."""
        snapshot = self.fetch()
        return snapshot is not None and self.apply(snapshot)

    async def refresh(self) -> bool:
        """Read off the loop, apply on it. True if something was applied."""
        snapshot = await asyncio.to_thread(self.fetch)
        return snapshot is not None and self.apply(snapshot)

    async def run(self) -> None:
        while True:
            try:
                if not self.virtual_time:
                    await self.refresh()
                elif time.monotonic() - self._polled_real >= self.interval_s:
                    self._polled_real = time.monotonic()
                    self.sync_now()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a locked or vanished store must not stop routing
                self.errors += 1
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("control plane poll failed: %s", self.last_error)
            if self.virtual_time:  # a bare timer future: a third of asyncio.sleep's cost
                await VirtualClock.sleep(self.interval_s)
            elif self._woken is None:
                await asyncio.sleep(self.interval_s)
            else:
                await self._wait_for_wake()

    async def _wait_for_wake(self) -> None:
        """Until a notification or the next poll, whichever comes first."""
        woken = self._woken
        timeout = max(self.interval_s, LISTEN_POLL_S) if self.listening else self.interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout)
        woken.clear()  # before the refresh that follows: a change during it wakes us again

    def _wake(self, loop: asyncio.AbstractEventLoop, woken: asyncio.Event) -> None:
        """From the listener's thread: wake the poll loop now."""
        self.wakes += 1
        try:
            loop.call_soon_threadsafe(woken.set)
        except RuntimeError:  # the loop closed under us: nothing left to wake
            log.debug("control plane: notification after the loop closed")

    def _from_thread(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., None],
                     *args: Any) -> None:
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed under us: nothing left to tell
            log.debug("control plane: listener state after the loop closed")

    def _mode_changed(self, state: str) -> None:
        """On the loop: LISTEN fell back to polling, or is back."""
        if self.on_mode_change is None or self._listener is None:
            return
        status = self.status()
        if state == "polling":
            detail = {"mode": "polling", "level": "warning", "error": status["last_error"],
                      "drops": status["drops"],
                      "summary": f"LISTEN connection lost: polling the store every "
                                 f"{self.interval_s:g}s until it is back"}
        else:
            detail = {"mode": "notify", "level": "info", "drops": status["drops"],
                      "summary": "LISTEN restored: control changes apply at their commit"}
        try:
            self.on_mode_change(detail)
        except Exception:  # an observer must never break the sync
            log.exception("control plane: mode change observer failed")

    def start(self, *, sync_first: bool = True) -> asyncio.Task:
        """Poll from now on; `sync_first` applies the store's state before returning (a
        blocking read: pass False when it was just done off the loop)."""
        if sync_first:
            self.sync_now()
        if not self.virtual_time and self._listener is None:
            loop, woken = asyncio.get_running_loop(), asyncio.Event()
            self._started_wall = time.time()
            listener = self.store.listen_control(
                lambda: self._wake(loop, woken),
                on_state=lambda state: self._from_thread(loop, self._mode_changed, state))
            if listener is not None:
                self._listener, self._woken = listener, woken
        self._task = asyncio.ensure_future(self.run())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._listener is not None:
            listener, self._listener, self._woken = self._listener, None, None
            await asyncio.to_thread(listener.close)
