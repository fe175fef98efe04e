"""The gateway config a drill writes for a scenario."""

from __future__ import annotations

import tomllib

from axtui.config import parse_config
from axtui.drill.gateway_config import gateway_table, to_toml
from axtui.sim.scenario import parse_scenario

SCENARIO = parse_scenario({
    "scenario": {"name": "two"},
    "upstreams": [{"name": "alpha"}, {"name": "beta", "protocol": "anthropic",
                                      "model": "claude-3-5-haiku-latest"}],
}, "two.toml")
URLS = {"alpha": "http://127.0.0.1:9/u/alpha/v1", "beta": "http://127.0.0.1:9/u/beta"}


def test_the_written_toml_is_a_valid_config_with_one_deployment_per_upstream():
    table = gateway_table(SCENARIO, URLS, "sqlite:////tmp/x.db")
    cfg = parse_config(tomllib.loads(to_toml(table)), "gateway.toml")
    assert [d.id for d in cfg.deployments] == ["alpha", "beta"]
    assert cfg.providers["beta"].protocol == "anthropic"
    assert cfg.providers["alpha"].base_url == URLS["alpha"]
    assert cfg.routes["chat"].candidates == ["alpha", "beta"]


def test_the_config_alerts_on_each_deployments_breaker_within_a_second():
    cfg = parse_config(tomllib.loads(to_toml(gateway_table(SCENARIO, URLS, "sqlite:///x.db"))))
    assert cfg.alerting.interval_s == 1
    rule = next(r for r in cfg.alerts if r.metric == "breaker_open")
    assert rule.scope == "deployment:*" and rule.for_ == 0


def test_the_alert_interval_is_the_drills_to_choose():
    table = gateway_table(SCENARIO, URLS, "sqlite:///x.db", alert_interval_s=15)
    assert parse_config(tomllib.loads(to_toml(table))).alerting.interval_s == 15


def test_toml_strings_are_escaped():
    text = to_toml({"a": {"s": 'quote " and \\ back\nline'}})
    assert tomllib.loads(text) == {"a": {"s": 'quote " and \\ back\nline'}}
