"""`[routes.X.slo]` in the config: validated with one line per problem; each objective adds
three burn-rate rules the alert evaluator runs like any other."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from axtui.alerts.evaluator import AlertEvaluator
from axtui.config import ConfigError, parse_config
from tests.store.factory import T0

from .conftest import requests


def demo(**slo):
    data = tomllib.loads(resources.files("axtui.fixtures").joinpath("demo.toml")
                         .read_text("utf-8"))
    data["routes"]["chat-fast"]["slo"] = slo
    return parse_config(data, "axtui.toml")


@pytest.mark.parametrize(("slo", "says"), [
    ({"availability": 100}, "routes.chat-fast.slo.availability: availability is a percent "
                            "above 0 and below 100 (got 100; 100 leaves no error budget)"),
    ({"availability": 99.9, "latency_ms": -1}, "latency_ms is above 0"),
    ({"latency_ms": 2000, "latency_target": 0}, "latency_target is a percent above 0"),
    ({"availability": 99.9, "window": "2h"}, "window is 1d to 31d (got 2h)"),
    ({"availability": 99.9, "window": "90d"}, "out of range (0 to 31d)"),
    ({}, "an slo needs availability, latency_ms, or both"),
    ({"availability": 99.9, "target": 1}, "routes.chat-fast.slo.target: unknown key"),
])
def test_a_bad_slo_is_refused_with_one_line_naming_it(slo, says):
    with pytest.raises(ConfigError) as e:
        demo(**slo)
    assert len(e.value.problems) == 1 and says in e.value.problems[0]


def test_the_window_defaults_to_28_days():
    assert demo(availability=99.9).routes["chat-fast"].slo.window == 28 * 86400


def test_each_objective_adds_a_fast_page_a_slow_page_and_a_ticket(tmp_path):
    cfg = demo(availability=99.9, latency_ms=2000)
    from axtui.store.db import open_store

    with open_store(f"sqlite:///{tmp_path}/a.db") as st:
        rules = {r.name: r for r in AlertEvaluator.from_config(st, cfg, st.clock).rules
                 if r.origin == "slo"}
    fast = rules["slo:chat-fast:availability:page-fast"]
    assert (fast.window, fast.short_window, fast.threshold, fast.severity) == (
        3600, 300, 14.4, "critical")
    ticket = rules["slo:chat-fast:latency:ticket"]
    assert (ticket.window, ticket.short_window, ticket.threshold, ticket.severity) == (
        3 * 86400, 6 * 3600, 1.0, "warning")
    assert fast.condition() == "slo_availability_burn of route:chat-fast > 14.4x over 1h and 5m"
    assert sum(r.name.startswith("slo:chat:") for r in rules.values()) == 6  # the demo's
    assert sum(r.name.startswith("slo:chat-eu:") for r in rules.values()) == 3  # availability
    assert sum(r.name.startswith("slo:chat-fast:") for r in rules.values()) == 6
    assert len(rules) == 15


def _evaluator(store, clock, **slo):
    cfg = demo(**slo)
    return AlertEvaluator.from_config(store, cfg, clock)


def test_a_fast_burn_over_both_windows_pages(store, clock):
    store.write_records(requests(T0, 100, route="chat-fast", failed=20))  # 20x at 99%
    clock.set(T0 + 120)
    ev = _evaluator(store, clock, availability=99.0)
    fired = {t.rule.name for t in ev.evaluate() if t.to_state == "firing"}
    assert fired == {"slo:chat-fast:availability:page-fast",
                     "slo:chat-fast:availability:page-slow",
                     "slo:chat-fast:availability:ticket"}


def test_a_burn_that_stopped_in_the_short_window_does_not_page(store, clock):
    # 20% failed an hour's first minutes; the last 5 minutes are clean
    store.write_records(requests(T0, 100, route="chat-fast", failed=20)
                        + requests(T0 + 1800, 300, route="chat-fast"))
    clock.set(T0 + 2100)
    ev = _evaluator(store, clock, availability=99.0)
    states = {t.rule.name: t.to_state for t in ev.evaluate()}
    assert "slo:chat-fast:availability:page-fast" not in states  # stays inactive
    pv = ev.preview(next(r for r in ev.rules
                         if r.name == "slo:chat-fast:availability:page-fast"))
    assert pv.value == 0.0 and pv.would_be == "inactive"


def test_no_traffic_is_no_data_not_fine(store, clock):
    clock.set(T0 + 600)
    ev = _evaluator(store, clock, availability=99.0)
    states = {t.rule.name: t.to_state for t in ev.evaluate()}
    assert states["slo:chat-fast:availability:page-fast"] == "nodata"
