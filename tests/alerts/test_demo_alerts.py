"""The bundled demo's traffic on a virtual clock, with the evaluator wired as the runtime
host wires it: the mistral outage (minutes 2 to 4 of the run) takes `mistral-errors`
pending, then firing, then resolved, and the store's event log says so in virtual time."""

from __future__ import annotations

import asyncio

from axtui.alerts.evaluator import AlertEvaluator
from axtui.alerts.state import read_alert_statuses
from axtui.cli.demo import DEMO_MIX
from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.engine.engine import Engine, RoutingError
from axtui.store.db import open_store
from axtui.store.recorder import Recorder
from axtui.traces.synthetic import traffic
from tests.store.factory import T0


def run_demo(url: str, n: int = 200, rate: float = 200 / 300, seed: int = 7):
    cfg = load_config()
    clock = VirtualClock(T0)
    store = open_store(url, clock=clock)
    recorder = Recorder(store)
    engine = Engine(cfg, clock=clock, seed=seed)
    engine.on_record(recorder.submit)
    engine.on_event(lambda kind, subject, detail: store.add_event(kind, subject, detail,
                                                                  ts=clock.now()))
    # records must be in the store when virtual time is evaluated: flush first
    ev = AlertEvaluator.from_config(store, cfg, clock, engine=engine,
                                    before_evaluate=recorder.flush)

    async def one(arrival, t0):
        await clock.sleep(max(0.0, t0 + arrival.at_s - clock.monotonic()))
        try:
            if arrival.request.stream:
                async for _ in engine.stream(arrival.request, arrival.ctx):
                    pass
            else:
                await engine.complete(arrival.request, arrival.ctx)
        except RoutingError:
            pass

    async def main():
        alerts = asyncio.ensure_future(ev.run())
        t0 = clock.monotonic()
        await asyncio.gather(*(one(a, t0) for a in traffic(n, routes=DEMO_MIX,
                                                           rate_per_s=rate, seed=seed)))
        alerts.cancel()
        await engine.aclose()

    clock.run(main())
    recorder.close()
    return store, clock


def test_the_demo_shows_the_mistral_outage_firing_and_resolving(tmp_path):
    store, clock = run_demo(f"sqlite:///{tmp_path}/demo.db")
    events = [e for e in reversed(store.events(subject="mistral-errors", limit=100))
              if e.kind.startswith("alert.")]
    kinds = [e.kind for e in events if e.kind != "alert.nodata"]
    assert kinds[kinds.index("alert.pending"):][:3] == [
        "alert.pending", "alert.firing", "alert.resolved"]
    pending = next(e for e in events if e.kind == "alert.pending")
    firing = next(e for e in events if e.kind == "alert.firing")
    resolved = next(e for e in events if e.kind == "alert.resolved")
    # in virtual time: pending once the outage (120 s to 240 s) shows, firing 30 s later
    assert 120 <= pending.ts - T0 < 240
    assert firing.ts - pending.ts >= 30
    assert resolved.ts - T0 > 240
    assert firing.detail["value"] > 0.5 and resolved.detail["value"] <= 0.5
    with store.connect() as conn:
        statuses = {a.name: a for a in read_alert_statuses(conn, clock.now())}
    assert statuses["mistral-errors"].state in ("resolved", "inactive", "nodata")
    assert not any(a.firing for a in statuses.values() if a.name.startswith("budget:"))
    store.close()
