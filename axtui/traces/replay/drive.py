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

    async def one(request: ChatRequest, ctx: RequestContext) -> None:
        try:
            if request.stream:
                async for _ in engine.stream(request, ctx):
                    pass
            else:
                await engine.complete(request, ctx)
        except RoutingError:
            stats.routing_errors += 1
        except Exception:  # never lose the run to one request: counted and logged
            stats.crashed += 1
            log.exception("replay: a request raised")

    for at_s, request, ctx in arrivals:
        wait = at_s - clock.monotonic()
        if wait > 0:
            await clock.sleep(wait)
        task = asyncio.create_task(one(request, ctx))
        running.add(task)
        task.add_done_callback(running.discard)
        stats.sent += 1
    while running:
        await asyncio.gather(*tuple(running))
    return stats
