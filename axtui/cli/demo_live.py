"""`axtui demo --live`: the console demo's engine, as a child process of the console.

Synthetic traffic in real time (a daily shape) through the bundled config, with the incident
schedule applied, into a store the console reads. The runtime host wires the engine, the
recorder, the event writer, the control-plane sync and the heartbeat, as for `axtui serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

log = logging.getLogger(__name__)

STOP_GRACE_S = 1.0  # the console waits on this child when it quits
# a few dozen requests a second: the recorder's thread is plenty, and saves the process
# recorder's start (a forkserver importing the store, ~0.5 s of CPU) and its 64 MiB ring
RECORDER = "thread"
FLUSH_S = 0.1  # records reach the console's store reads sooner than the default 0.25 s
MAX_IN_FLIGHT = 512  # beyond this, arrivals are counted as shed rather than piling up
# Synthetic user ratings (POST /v1/feedback's store call): a share of answered requests is
# rated, each deployment around a mean of its own on the config's scale (-1..1 here), so the
# rollouts pane's `rt` gate, `flags report`'s "mean rating" row and the deployments' ratings
# have data in the demo. flash-lite answers rate a little lower: its cohort in the
# flash_lite_chat rollout shows a drop, inside the default max_rating_drop of 0.1.
RATED_SHARE = 0.3
RATING_MEAN = 0.62  # on -1..1
RATING_MEANS = {"gemini/gemini-2.0-flash-lite": 0.55}
RATING_SPREAD = 0.35
RATE_EVERY_S = 1.0  # ratings are written in a batch this often, off the event loop


class DemoRatings:
    """Rates a share of the demo's answered requests, as its users would through
    POST /v1/feedback: `take()` what was rated since the last take, then `write` it."""

    def __init__(self, scale: tuple[int, int], seed: int) -> None:
        import random

        self.lo, self.hi = scale
        self.rng = random.Random(seed ^ 0x5EED)
        self.pending: list = []
        self.written = 0
        self.failed = 0

    def score(self, deployment: str) -> float:
        """A rating on -1..1 around the deployment's mean, mapped onto the scale (whole
        stars on 1..5)."""
        mean = RATING_MEANS.get(deployment, RATING_MEAN)
        s = max(-1.0, min(1.0, mean + self.rng.uniform(-RATING_SPREAD, RATING_SPREAD)))
        if (self.lo, self.hi) == (-1, 1):
            return round(s, 2)
        return float(round(self.lo + (s + 1) / 2 * (self.hi - self.lo)))

    def on_record(self, record) -> None:
        if record.ok and record.deployment and self.rng.random() < RATED_SHARE:
            self.pending.append((record, self.score(record.deployment)))

    def take(self) -> list:
        """What was rated since the last take (on the event loop's thread)."""
        batch, self.pending = self.pending, []
        return batch

    def write(self, store, batch: list) -> None:
        """Store a batch (off the event loop); a store that refuses it is counted and
        logged, never silent: the demo goes on."""
        try:
            for record, score in batch:
                store.rate(record, score, "demo")
        except Exception as err:  # the store's error: the demo's traffic goes on
            self.failed += len(batch)
            log.warning("demo ratings: %d not stored: %s", len(batch), err)
            return
        self.written += len(batch)


async def run_live(cfg, store_url: str, *, rate: float, seed: int, stop: asyncio.Event,
                   clock=None, duration_s: float | None = None) -> dict[str, int]:
    """Send live traffic until `stop` is set (or for `duration_s`); return counts (sent,
    failed, shed). `clock` defaults to the real one; tests pass a VirtualClock and run this
    in its loop, so minutes of the demo take seconds."""
    from axtui.cli.demo import DEMO_MIX
    from axtui.clock import RealClock
    from axtui.engine.engine import RoutingError
    from axtui.runtime import RuntimeHost
    from axtui.traces.live import live_arrivals

    clock = clock or RealClock()
    cfg = cfg.model_copy(update={"store": cfg.store.model_copy(
        update={"flush_interval_s": FLUSH_S})})
    host = RuntimeHost(cfg, face="demo", store_url=store_url, seed=seed, clock=clock,
                       recorder=RECORDER)
    await host.start()  # flags seeded; drains and kills from the console apply
    engine = host.engine
    counts = {"sent": 0, "failed": 0, "shed": 0}
    in_flight: set[asyncio.Task] = set()
    ratings = DemoRatings(cfg.feedback.bounds, seed)
    engine.on_record(ratings.on_record)

    writing: set[asyncio.Future] = set()  # a write a stop interrupts still finishes

    async def rate_every() -> None:
        while True:
            await clock.sleep(RATE_EVERY_S)
            w = asyncio.ensure_future(asyncio.to_thread(ratings.write, host.store,
                                                        ratings.take()))
            writing.add(w)
            w.add_done_callback(writing.discard)
            await asyncio.shield(w)

    async def one(arrival) -> None:
        try:
            if arrival.request.stream:
                async for _ in engine.stream(arrival.request, arrival.ctx):
                    pass
            else:
                await engine.complete(arrival.request, arrival.ctx)
        except RoutingError:
            counts["failed"] += 1  # the record says why; the console shows it

    mix = {r: w for r, w in DEMO_MIX.items() if r in cfg.routes} or {r: 1.0 for r in cfg.routes}
    start = clock.now()
    t0 = clock.monotonic()
    rater = asyncio.create_task(rate_every())
    try:
        for arrival in live_arrivals(rate, mix, start=start, seed=seed):
            if duration_s is not None and arrival.at_s > duration_s:
                break
            delay = t0 + arrival.at_s - clock.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                break
            if len(in_flight) >= MAX_IN_FLIGHT:
                counts["shed"] += 1
                continue
            task = asyncio.create_task(one(arrival))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            counts["sent"] += 1
        if in_flight:  # synthetic traffic: a short grace, then cancel (recorded as cancelled)
            _, late = await asyncio.wait(in_flight, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=STOP_GRACE_S)
        rater.cancel()
        await asyncio.gather(rater, *writing, return_exceptions=True)
        await asyncio.to_thread(ratings.write, host.store, ratings.take())  # the last ones
    finally:
        rater.cancel()
        engine.off_record(ratings.on_record)
        await host.stop()  # events, then every queued record, then the store
    counts["rated"], counts["ratings_failed"] = ratings.written, ratings.failed
    return counts


def main(config, store_url: str | None, rate: float, seed: int, incident) -> dict[str, int]:
    """Run until SIGTERM/SIGINT, or until the parent (the console) goes away."""
    from axtui.config import load_config
    from axtui.traces.live import load_incident, with_incident

    cfg = with_incident(load_config(config), load_incident(incident))
    url = store_url or cfg.store.url
    # the console that started us; its pid from the environment, as the console may have
    # died (and this process been re-parented) before this line ran
    given = os.environ.get("AXTUI_PARENT_PID", "")
    parent = int(given) if given.isdigit() else os.getppid()

    async def run() -> dict[str, int]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        async def orphaned() -> None:  # a console that died must not leave traffic running
            while not stop.is_set():
                if os.getppid() != parent:
                    log.warning("the console is gone: stopping the demo")
                    stop.set()
                await asyncio.sleep(1.0)

        watch = asyncio.create_task(orphaned())
        try:
            return await run_live(cfg, url, rate=rate, seed=seed, stop=stop)
        finally:
            watch.cancel()

    return asyncio.run(run())
