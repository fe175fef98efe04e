"""The console's live demo, run on a virtual clock: within its first two minutes a provider
fails (the bundled incident), its breakers open, the EU route it alone serves burns its SLO,
an alert fires, and it recovers."""

from __future__ import annotations

import asyncio

from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.slo.status import slo_statuses
from axtui.store.db import open_store
from axtui.traces.live import load_incident, with_incident

T0 = 1_780_000_000.0


def test_the_demo_incident_opens_a_breaker_and_recovers_within_two_minutes(tmp_path):
    # the bundled schedule fails its provider inside the first two minutes
    assert load_incident() and all(w[0].end_s <= 120 for w in load_incident().values())
    from axtui.cli.demo_live import run_live

    cfg = with_incident(load_config(), load_incident())
    cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"recorder": "thread"})})
    url = f"sqlite:///{tmp_path / 'live.db'}"
    clock = VirtualClock(start=T0)

    async def main():
        return await run_live(cfg, url, rate=20.0, seed=7, stop=asyncio.Event(), clock=clock,
                              duration_s=240.0)

    [(provider, windows)] = load_incident().items()  # whichever provider the schedule fails
    first = windows[0]
    counts = clock.run(main())
    assert counts["sent"] > 1000 and counts["shed"] == 0
    store = open_store(url)
    breakers = [(e.ts - T0, e.subject, e.detail.get("to"))
                for e in sorted(store.events(kind="breaker"), key=lambda e: e.ts)]
    opened = [(t, s) for t, s, to in breakers
              if to == "open" and s.startswith(f"{provider}/")]
    assert opened and first.start_s <= opened[0][0] <= first.end_s, breakers  # during it
    subject = opened[0][1]
    closed = [t for t, s, to in breakers if s == subject and to == "closed" and t > first.end_s]
    assert closed and closed[0] < 150, breakers  # recovered once the incident ended
    records = store.recent_records(since_ts=T0 + first.start_s + 5, until_ts=T0 + first.end_s,
                                   limit=100_000)
    eu = [r for r in records if r.route == "chat-eu"]
    assert eu and not [r for r in eu if r.ok]  # its only (EU) deployment is down
    assert {r.status for r in eu} <= {503, 429}  # refused, never served outside the EU
    [slo] = slo_statuses(store, cfg.slos(), T0 + first.end_s, routes=["chat-eu"])
    availability = slo.objectives[0]
    assert availability.objective == "availability" and availability.burn["5m"] > 14.4
    assert "no_candidates" in {c.what for c in availability.causes}  # what burns it
    alerts = [(e.ts - T0, e.kind) for e in sorted(store.events(subject="mistral-breaker"),
                                                   key=lambda e: e.id)]
    firing = [t for t, kind in alerts if kind == "alert.firing"]
    assert firing and first.start_s < firing[0] <= 120, alerts  # fires in the first 2 min
    assert [t for t, kind in alerts if kind == "alert.resolved" and t > firing[0]], alerts
    store.close()


def test_a_demo_child_whose_console_died_before_it_started_stops_by_itself(tmp_path):
    # The console passes its pid; a child re-parented before it could look (the console
    # died during the child's ~1 s of imports) must still see that its console is gone.
    import os
    import subprocess
    import sys

    env = {**os.environ, "AXTUI_PARENT_PID": "1"}  # not this child's parent: gone already
    done = subprocess.run(
        [sys.executable, "-m", "axtui.cli.main", "demo", "--live", "--rate", "5",
         "--store", f"sqlite:///{tmp_path / 'demo.db'}"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert "the console is gone" in done.stderr, done.stderr[-2000:]


def test_the_demo_rates_a_share_of_its_answers_and_the_flag_cohort_has_its_mean_rating(tmp_path):
    """The demo's users rate some answers (as POST /v1/feedback would store them), so the
    flash_lite_chat rollout shows its cohort's and baseline's mean ratings."""
    from axtui.cli.demo_live import RATING_MEANS, run_live

    cfg = load_config()
    url = f"sqlite:///{tmp_path / 'live.db'}"
    clock = VirtualClock(start=T0)

    async def main():
        return await run_live(cfg, url, rate=20.0, seed=7, stop=asyncio.Event(), clock=clock,
                              duration_s=120.0)

    counts = clock.run(main())
    store = open_store(url)
    try:
        ratings = store.ratings()
        assert counts["rated"] == len(ratings) > 0 and counts["ratings_failed"] == 0
        assert all(-1 <= r.score <= 1 for r in ratings)
        sides = [r.flags.get("flash_lite_chat") for r in ratings]
        assert sides.count("on") and sides.count("off")  # the rollout's cohort and baseline
        lite = [r.score for r in ratings if r.deployment in RATING_MEANS]
        others = [r.score for r in ratings if r.deployment and r.deployment not in RATING_MEANS]
        assert sum(lite) / len(lite) < sum(others) / len(others)
    finally:
        store.close()
