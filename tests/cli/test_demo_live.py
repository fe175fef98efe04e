"""The console's live demo, run on a virtual clock: within its first two minutes a provider
fails (the bundled incident), its breakers open, traffic fails over, and it recovers."""

from __future__ import annotations

import asyncio

from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.store.db import open_store
from axtui.traces.live import load_incident, with_incident

T0 = 1_780_000_000.0


def test_the_demo_incident_opens_a_breaker_and_recovers_within_two_minutes(tmp_path):
    from axtui.cli.demo_live import run_live

    cfg = with_incident(load_config(), load_incident())
    cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"recorder": "thread"})})
    url = f"sqlite:///{tmp_path / 'live.db'}"
    clock = VirtualClock(start=T0)

    async def main():
        return await run_live(cfg, url, rate=20.0, seed=7, stop=asyncio.Event(), clock=clock,
                              duration_s=150.0)

    counts = clock.run(main())
    assert counts["sent"] > 1000 and counts["shed"] == 0
    store = open_store(url)
    breakers = [(e.ts - T0, e.subject, e.detail.get("to"))
                for e in sorted(store.events(kind="breaker"), key=lambda e: e.ts)]
    opened = [(t, s) for t, s, to in breakers if to == "open" and s.startswith("openai/")]
    assert opened and 40 <= opened[0][0] <= 100, breakers  # during the incident
    subject = opened[0][1]
    closed = [t for t, s, to in breakers if s == subject and to == "closed" and t > 100]
    assert closed and closed[0] < 150, breakers  # recovered once the incident ended
    records = store.recent_records(since_ts=T0 + 45, until_ts=T0 + 95, limit=100_000)
    served_elsewhere = [r for r in records if r.ok and len(r.attempts) > 1
                        and r.attempts[0].deployment.startswith("openai/")]
    assert served_elsewhere  # failover carried the traffic
    store.close()
