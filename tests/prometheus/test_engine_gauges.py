"""Engine gauges as a scrape reads them, from a real engine (the demo config's)."""

from __future__ import annotations

import pytest

from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.engine.engine import Engine
from axtui.prometheus.engine import EngineGauges

from .exposition import samples, value


@pytest.fixture
def engine() -> Engine:
    return Engine(load_config(None), clock=VirtualClock())


def test_every_deployment_has_one_breaker_state_set(tmp_path, engine):
    gauges = EngineGauges(engine, tmp_path)
    try:
        gauges.publish()
        found = samples(tmp_path)
    finally:
        gauges.close()
    for dep in engine.deployments:
        states = [value(found, "axtui_breaker_state", deployment=dep, state=s)
                  for s in ("closed", "open", "half_open")]
        assert states == [1, 0, 0]


def test_alerts_appear_with_the_hook_and_fall_to_zero_when_resolved(tmp_path, engine):
    gauges = EngineGauges(engine, tmp_path)
    try:
        gauges.publish(None)
        assert not [k for k in samples(tmp_path) if k[0] == "axtui_alerts_firing"]
        gauges.publish({("mistral_down", "critical"): 1})
        assert value(samples(tmp_path), "axtui_alerts_firing", alertname="mistral_down",
                     severity="critical") == 1
        gauges.publish({})
        assert value(samples(tmp_path), "axtui_alerts_firing", alertname="mistral_down",
                     severity="critical") == 0
    finally:
        gauges.close()


def test_a_stopped_publisher_takes_its_gauges_away(tmp_path, engine):
    gauges = EngineGauges(engine, tmp_path)
    gauges.publish()
    gauges.close()
    assert not [k for k in samples(tmp_path) if k[0].startswith("axtui_")]
