"""`free_tier_share` in a user's [[alerts]] rule: the share of answered requests a free-tier
deployment answered over the rule's window, as the costs view computes it from the rollups
(costs/free_tier.py). No rule is built in; an unknown metric is refused by name."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from axtui.alerts.evaluator import AlertEvaluator
from axtui.cli.main import app
from axtui.cli.output import CliError
from axtui.config import ConfigError, parse_config
from tests.engine.conftest import BASE
from tests.store.factory import T0, attempt, record

RULE = {"name": "free-tier-low", "metric": "free_tier_share", "operator": "<",
        "threshold": 0.9, "window": "1m", "for": "0s", "severity": "warning"}


def config(*alerts: dict):
    """a/cheap is on a free tier (its provider has a free allowance); b/mid is paid."""
    data = copy.deepcopy(BASE)
    data["providers"]["a"]["free_tier"] = {"rpm": 15, "rpd": 1500}
    data["alerts"] = [dict(a) for a in alerts]
    return parse_config(data, "test.toml")


def served(minute: int, free: int, paid: int) -> list:
    """`free` answers by a/cheap and `paid` by b/mid in minute `minute` after T0."""
    t = T0 + 60 * minute + 1
    return ([record(started_at=t, attempts=[attempt("a/cheap", started_at=t)])
               for _ in range(free)]
            + [record(started_at=t, attempts=[attempt("b/mid", started_at=t)])
               for _ in range(paid)])


def states(ev: AlertEvaluator, at: float) -> tuple[str, float | None]:
    ev.evaluate(at)
    preview = ev.preview(ev.rules[0], at)
    return preview.state, preview.value


def test_the_rule_fires_when_the_free_share_drops_below_and_resolves_when_it_recovers(
        store, clock):
    ev = AlertEvaluator.from_config(store, config(RULE), clock)
    assert [r.name for r in ev.rules] == ["free-tier-low"]
    store.write_records(served(0, free=19, paid=1)  # 95%: fine
                        + served(1, free=6, paid=4)  # 60%: below 90%
                        + served(2, free=10, paid=0))  # 100%: recovered
    assert states(ev, T0 + 60) == ("inactive", 0.95)
    assert states(ev, T0 + 120) == ("firing", 0.6)
    assert states(ev, T0 + 180) == ("resolved", 1.0)
    kinds = [e.kind for e in store.events(subject="free-tier-low", limit=10)]
    assert kinds == ["alert.resolved", "alert.firing"]  # newest first


def test_a_window_without_answers_is_no_data_not_a_share(store, clock):
    ev = AlertEvaluator.from_config(store, config(RULE), clock)
    assert states(ev, T0 + 60) == ("nodata", None)


def test_no_free_tier_rule_is_built_in(store, clock):
    ev = AlertEvaluator.from_config(store, config(), clock)
    assert not any(r.metric == "free_tier_share" for r in ev.rules)


def test_the_share_is_measured_globally_only():
    with pytest.raises(ConfigError) as e:
        config({**RULE, "scope": "route:chat"})
    assert "free_tier_share is measured over all requests (global), not per route" in str(
        e.value)


def test_an_unknown_metric_in_the_config_is_refused_by_name():
    with pytest.raises(ConfigError) as e:
        config({**RULE, "metric": "free_tier_shares"})
    assert "alerts[0].metric: unknown metric 'free_tier_shares' (one of error_rate, " in str(
        e.value)


def test_an_unknown_metric_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(app, [
        "alerts", "rules", "create", "low-free", "--metric", "free_tier_shares",
        "--threshold", "0.9", "--op", "<", "--store", f"sqlite:///{tmp_path}/s.db"])
    assert isinstance(result.exception, CliError)  # run() prints it as one line, exit 2
    assert result.exception.code == 2
    assert result.exception.message.startswith(
        "alert rule: metric: unknown metric 'free_tier_shares' (one of error_rate, ")
    assert result.exception.message.endswith(" or free_tier_share)")
