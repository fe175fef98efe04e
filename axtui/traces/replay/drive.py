"""Requests played through a started RuntimeHost on its virtual clock, as they arrive: one
task per request, created when its arrival time comes, so a long trace is never held."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from axtui.clock import VirtualClock
from axtui.engine.engine import RequestContext, RoutingError
from axtui.providers.base import ChatRequest

log = logging.getLogger(__name__)


@dataclass
class DriveStats:
    sent: int = 0
    routing_errors: int = 0  # refused or failed: the record says why
    crashed: int = 0  # anything else an engine call raised (logged): a bug, shown


async def drive(host, clock: VirtualClock,
                arrivals: Iterable[tuple[float, ChatRequest, RequestContext]]) -> DriveStats:
    """Send each `(at_s, request, ctx)` at `at_s` seconds of the clock's monotonic time
    (arrivals in time order); returns once every request has finished."""
    stats = DriveStats()
    engine = host.engine
    running: set[asyncio.Task] = set()
    create_task, sleep, monotonic = asyncio.create_task, clock.sleep, clock.monotonic

    def finished(task: asyncio.Task) -> None:
        running.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, RoutingError):  # refused or failed: the record says why
            stats.routing_errors += 1
        else:  # never lose the run to one request: counted and logged
            stats.crashed += 1
            log.error("replay: a request raised", exc_info=exc)

    for at_s, request, ctx in arrivals:
        wait = at_s - monotonic()
        if wait > 0:
            await sleep(wait)
        # the engine's own coroutine is the task (no wrapper frame to pass through at each
        # wake-up); its outcome is read when it is done
        task = create_task(_consume(engine.stream(request, ctx)) if request.stream
                           else engine.complete(request, ctx))
        running.add(task)
        task.add_done_callback(finished)
        stats.sent += 1
    while running:
        await asyncio.gather(*tuple(running), return_exceptions=True)
    return stats


async def _consume(stream) -> None:
    async for _ in stream:
        pass
