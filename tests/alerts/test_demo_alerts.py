"""`axtui demo` end to end: the bundled demo's traffic on a virtual clock through the runtime
host, whose alert job evaluates every 15 s of virtual time. The mistral outage (60 s to 150 s
of the run) takes `mistral-errors` pending, then firing, then resolved, and the store's
event log says so in virtual time; chat-eu's SLO, which only mistral serves, is left
burning."""

from __future__ import annotations

from axtui.alerts.state import AlertTransitionEvent, alert_event, read_alert_statuses
from axtui.cli import demo
from axtui.config import load_config
from axtui.store.db import open_store


def test_the_demo_shows_the_mistral_outage_firing_and_resolving(tmp_path):
    url = f"sqlite:///{tmp_path}/demo.db"
    records, _, alerts = demo._run(load_config(), 200, 200 / 300, demo.DEMO_MIX, 7, url, None)
    start = min(r.started_at for r in records)
    store = open_store(url)
    events = [e for e in reversed(store.events(subject="mistral-errors", limit=100))
              if e.kind in ("alert.pending", "alert.firing", "alert.resolved")]
    assert [e.kind for e in events] == ["alert.pending", "alert.firing", "alert.resolved"]
    pending, firing, resolved = (alert_event(e) for e in events)
    assert isinstance(firing, AlertTransitionEvent)
    # in virtual time: pending once the outage shows, firing after its 30 s "for"
    assert 60 <= events[0].ts - start < 150 + 60
    assert events[1].ts - events[0].ts >= 30
    assert events[2].ts - start > 150
    assert firing.value > 0.5 and resolved.value <= 0.5
    # the demo's own summary saw the same story
    story = [a["to"] for a in alerts if a["rule"] == "mistral-errors"
             and a["to"] in ("pending", "firing", "resolved")]
    assert story == ["pending", "firing", "resolved"]
    assert "mistral-errors pending → firing → resolved" in demo._alert_story(alerts)
    with store.connect() as conn:
        statuses = {a.name: a for a in read_alert_statuses(conn, events[-1].ts)}
    assert statuses["mistral-errors"].state == "resolved"
    # what still fires is chat-eu's SLO: its EU-only requests failed through the outage, and
    # the error budget they spent stays spent (its slow burn windows are 6 h and 3 d)
    still = {n for n, a in statuses.items() if a.firing}
    assert still and all(n.startswith("slo:chat-eu:availability:") for n in still), still
    store.close()
