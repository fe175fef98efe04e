from __future__ import annotations

import pytest

from axtui.alerts.evaluator import AlertEvaluator
from axtui.alerts.rules import AlertRule
from axtui.clock import VirtualClock
from axtui.store.db import open_store
from tests.store.factory import T0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/alerts.db"


@pytest.fixture
def store(store_url, clock):
    st = open_store(store_url, clock=clock)
    yield st
    st.close()


def rule(name: str = "r", **kw) -> AlertRule:
    """A rule with test-friendly defaults: error_rate of global > 0.5 over 1m for 30s."""
    data = {"name": name, "metric": "error_rate", "threshold": 0.5, "window": "1m",
            "for": "30s", **kw}
    return AlertRule.model_validate(data)


def evaluator(store, clock, *rules: AlertRule, **kw) -> AlertEvaluator:
    return AlertEvaluator(store, list(rules), clock, **kw)
