"""Alert rules as a user writes them: in the config, validated with errors that name the key."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources

import pytest

from axtui.alerts.rules import AlertRule, WebhookConfig, budget_rules, parse_duration, value_text
from axtui.config import ConfigError, load_config, parse_config

DEMO = tomllib.loads(resources.files("axtui.fixtures").joinpath("demo.toml").read_text())


def _problems(alerts=None, **extra) -> list[str]:
    data = copy.deepcopy(DEMO)
    if alerts is not None:
        data["alerts"] = alerts
    data.update(extra)
    with pytest.raises(ConfigError) as e:
        parse_config(data, "a.toml")
    return e.value.problems


def test_the_demo_config_ships_rules_and_alerting():
    cfg = load_config()
    names = [r.name for r in cfg.alerts]
    assert "mistral-errors" in names
    mistral = next(r for r in cfg.alerts if r.name == "mistral-errors")
    assert (mistral.metric, mistral.scope, mistral.window, mistral.for_) == (
        "error_rate", "deployment:mistral/mistral-small-latest", 60.0, 30.0)
    assert cfg.alerting.interval_s == 15


def test_an_unknown_metric_names_its_key():
    problems = _problems([{"name": "x", "metric": "error_rte", "threshold": 1}])
    assert len(problems) == 1
    assert problems[0].startswith("a.toml: alerts[0].metric:")
    assert "error_rate" in problems[0]


def test_a_bad_window_names_its_key():
    problems = _problems([{"name": "x", "metric": "p95", "threshold": 1, "window": "5x"}])
    assert problems == ["a.toml: alerts[0].window: not a duration: '5x' (use e.g. 90s, 15m, "
                        "1h, 7d)"]


@pytest.mark.parametrize("scope, why", [
    ("route:nope", "unknown route 'nope'"),
    ("deployment:x/y", "unknown deployment 'x/y'"),
    ("provider:acme", "unknown provider 'acme'"),
])
def test_a_scope_naming_nothing_in_the_config_is_refused(scope, why):
    problems = _problems([{"name": "x", "metric": "p95", "threshold": 1, "scope": scope}])
    assert problems == [f"a.toml: alerts[0].scope: {why}"]


def test_a_malformed_scope_is_refused():
    problems = _problems([{"name": "x", "metric": "p95", "threshold": 1, "scope": "route"}])
    assert "alerts[0].scope" in problems[0] and "global, route:NAME" in problems[0]


def test_rejected_rate_is_not_measured_per_deployment():
    problems = _problems([{"name": "x", "metric": "rejected_rate", "threshold": 0.1,
                           "scope": "deployment:openai/gpt-4o"}])
    assert "rejected_rate is measured per route or globally" in problems[0]


def test_duplicate_rule_names_are_refused():
    r = {"name": "x", "metric": "p95", "threshold": 1}
    assert _problems([r, r]) == ["a.toml: alerts[1].name: duplicate alert rule 'x'"]


def test_an_unknown_key_in_a_rule_is_refused():
    problems = _problems([{"name": "x", "metric": "p95", "threshold": 1, "treshold": 2}])
    assert problems == ["a.toml: alerts[0].treshold: unknown key"]


def test_spend_vs_budget_needs_a_budget_with_that_scope():
    problems = _problems([{"name": "x", "metric": "spend_vs_budget", "threshold": 90,
                           "scope": "route:chat"}])
    assert problems == ["a.toml: alerts[0].scope: no [[budgets]] entry has scope 'route:chat'"]


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1h", 3600),
                                           ("1d", 86400), (30, 30), ("250ms", 0.25)])
def test_durations_read_as_people_write_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "-1m", "", "m", "40d", True])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_condition_reads_as_a_sentence():
    r = AlertRule.model_validate({"name": "x", "metric": "p95", "scope": "route:chat",
                                  "threshold": 3000, "window": "5m", "for": "2m"})
    assert r.condition() == "p95 of route:chat > 3000ms over 5m for 2m"


def test_each_budget_threshold_is_a_built_in_rule():
    cfg = load_config()
    rules = budget_rules(cfg.budgets)
    glob = [r for r in rules if r.scope == "global"]
    assert [(r.threshold, r.severity) for r in glob] == [
        (50, "info"), (80, "warning"), (100, "critical")]
    assert all(r.metric == "spend_vs_budget" and r.operator == ">=" and r.origin == "budget"
               for r in rules)
    assert len(rules) == 3 * len(cfg.budgets)


def test_a_budget_for_every_user_or_an_email_is_named_as_one_alert_of_many():
    """A scope that cannot stand in a rule name (`*`, `@`) is the name's [part]; others keep
    their plain names (alert states and silences already refer to them)."""
    from axtui.config import BudgetConfig

    budgets = [BudgetConfig(scope="user:*", limit_usd="1"),
               BudgetConfig(scope="key:ops@example.com", period="month", limit_usd="1",
                            thresholds=[100]),
               BudgetConfig(scope="route:chat", limit_usd="1", thresholds=[100])]
    assert [r.name for r in budget_rules(budgets)] == [
        "budget:user:day:50[*]", "budget:user:day:80[*]", "budget:user:day:100[*]",
        "budget:key:month:100[ops@example.com]", "budget:route:chat:day:100"]
    assert [r.scope for r in budget_rules(budgets)][::2] == ["user:*", "user:*",
                                                             "route:chat"]


def test_a_webhook_needs_exactly_one_of_url_and_url_env():
    with pytest.raises(ValueError, match="url"):
        WebhookConfig(name="x")
    with pytest.raises(ValueError, match="url"):
        WebhookConfig(name="x", url="http://127.0.0.1/h", url_env="HOOK")
    assert WebhookConfig(url_env="HOOK").format == "json"


def test_a_wildcard_scope_is_accepted_and_brackets_are_kept_for_its_alerts():
    data = copy.deepcopy(DEMO)
    data["alerts"] = [{"name": "dep-errors", "metric": "error_rate", "threshold": 0.2,
                       "scope": "deployment:*"}]
    (r,) = parse_config(data, "a.toml").alerts
    assert r.wildcard and r.instance("groq/x").scope == "deployment:groq/x"
    problems = _problems([{"name": "x[y]", "metric": "p95", "threshold": 1}])
    assert problems == ["a.toml: alerts[0].name: [ ] are kept for a wildcard rule's alerts"]


@pytest.mark.parametrize(("metric", "value", "text"), [
    ("error_rate", 0.062, "6.2%"),
    ("request_rate", 0.9, "0.9 req/s"),  # a rate per second, never a percentage
    ("spend_vs_budget", 80, "80.0%"),  # already in percent
    ("p95", 1594.2, "1.59s"),
    ("cost_per_hour", 1.2, "$1.20/h"),
    ("cost_per_hour", 0.0123, "$0.0123/h"),
    ("breaker_open", 2, "2 open breakers"),
    ("breaker_open", 1, "1 open breaker"),
    ("p99", None, "no data"),
])
def test_values_print_in_their_metrics_unit_on_every_face(metric, value, text):
    assert value_text(value, metric) == text
