"""Spend by provider, model, deployment, route, user, key and complexity: exact, and every
grouping adds up to the same total."""

from __future__ import annotations

import pytest

from axtui.costs import BY, breakdown, spend_series
from axtui.records import Attempt, ErrorKind
from tests.costs.conftest import HOUR, fill, served
from tests.store.factory import T0, record

NAMES = {"openai/gpt-4o-mini": ("openai", "gpt-4o-mini"),
         "azure-mini": ("azure", "gpt-4o-mini"),
         "anthropic/claude-haiku": ("anthropic", "claude-haiku")}


@pytest.fixture
def filled(store):
    fill(store, [
        served("openai/gpt-4o-mini", 1_000_000_001, user="alice", key="k1",
               complexity="simple"),
        served("openai/gpt-4o-mini", 2_000_000_002, at=T0 + 60, user="bob", key="k1",
               route="chat-large", complexity="complex"),
        served("azure-mini", 300, at=T0 + 120, user=None, key="k2", complexity="simple"),
        served("anthropic/claude-haiku", 7, at=T0 + 180, user="alice", key=None),
    ])
    return store


def totals(store, by):
    b = breakdown(store, by, T0, T0 + HOUR, deployments=NAMES)
    return {ln.key: ln.cost_nano for ln in b.lines}, b


def test_every_grouping_adds_up_to_the_same_exact_total(filled):
    for by in BY:
        lines, b = totals(filled, by)
        assert b.total_nano == 3_000_000_310 == sum(lines.values()), by
        assert sum(ln.share for ln in b.lines) == pytest.approx(1.0)


def test_spend_by_provider_and_model_uses_the_configured_names(filled):
    assert totals(filled, "provider")[0] == {"openai": 3_000_000_003, "azure": 300,
                                             "anthropic": 7}
    assert totals(filled, "model")[0] == {"gpt-4o-mini": 3_000_000_303, "claude-haiku": 7}


def test_a_deployment_not_in_the_config_is_named_from_its_provider_slash_model_id(filled):
    b = breakdown(filled, "provider", T0, T0 + HOUR)
    assert {ln.key for ln in b.lines} == {"openai", "azure-mini", "anthropic"}


def test_spend_by_route_user_key_and_complexity(filled):
    assert totals(filled, "route")[0] == {"chat": 1_000_000_308, "chat-large": 2_000_000_002}
    assert totals(filled, "user")[0] == {"bob": 2_000_000_002, "alice": 1_000_000_008,
                                         "(none)": 300}
    assert totals(filled, "key")[0] == {"k1": 3_000_000_003, "k2": 300, "(none)": 7}
    assert totals(filled, "complexity")[0] == {"complex": 2_000_000_002,
                                               "simple": 1_000_000_301, "(none)": 7}


def test_lines_are_ordered_by_spend_with_request_counts(filled):
    _, b = totals(filled, "user")
    assert [(ln.key, ln.requests) for ln in b.lines] == [("bob", 1), ("alice", 2),
                                                         ("(none)", 1)]
    assert b.requests == 4 and b.counted == "requests"


def test_a_failed_over_attempt_is_charged_to_the_deployment_where_it_ran(store):
    failed = Attempt(deployment="anthropic/claude-haiku", started_at=T0, latency_ms=100.0,
                     status=503, error_kind=ErrorKind.server, cost_nano=50)
    ok = served("openai/gpt-4o-mini", 1000).attempts[0]
    fill(store, [record(attempts=[failed, ok])])
    by_dep, b = totals(store, "deployment")
    assert by_dep == {"openai/gpt-4o-mini": 1000, "anthropic/claude-haiku": 50}
    assert b.counted == "attempts" and b.requests == 2
    assert totals(store, "route")[0] == {"chat": 1050}


def test_requests_outside_the_range_do_not_count(store):
    fill(store, [served("openai/gpt-4o-mini", 5, at=T0 - 60),
                 served("openai/gpt-4o-mini", 7, at=T0),
                 served("openai/gpt-4o-mini", 11, at=T0 + HOUR)])
    for by in BY:
        assert breakdown(store, by, T0, T0 + HOUR).total_nano == 7, by


def test_an_unknown_grouping_is_refused_by_name(store):
    with pytest.raises(ValueError, match="'team'"):
        breakdown(store, "team", T0, T0 + HOUR)


def test_spend_series_puts_every_provider_on_the_same_zero_filled_buckets(filled):
    series = spend_series(filled, "provider", T0, T0 + 600, 120, deployments=NAMES)
    assert list(series) == ["anthropic", "azure", "openai"]
    assert series["openai"] == [(T0, 3_000_000_003), (T0 + 120, 0), (T0 + 240, 0),
                                (T0 + 360, 0), (T0 + 480, 0)]
    assert series["azure"][1] == (T0 + 120, 300)
    assert series["anthropic"][1] == (T0 + 120, 7)
    total = spend_series(filled, "total", T0, T0 + 600, 600)
    assert total == {"total": [(T0, 3_000_000_310)]}


def test_spend_series_refuses_a_step_that_is_not_whole_minutes(store):
    with pytest.raises(ValueError, match="whole number of minutes"):
        spend_series(store, "route", T0, T0 + 600, 90)


def test_hourly_series_from_an_unaligned_start_buckets_every_request_where_it_falls(store):
    # requests every 10 minutes for 3 hours (costs 1..18), asked from 00:30: the first
    # hourly bucket holds only its half inside the range
    fill(store, [served("a/x", 1 + i, at=T0 + 600 * i) for i in range(18)])
    series = spend_series(store, "total", T0 + 1800, T0 + 3 * HOUR, 3600)["total"]
    assert series == [(T0, 4 + 5 + 6), (T0 + HOUR, sum(range(7, 13))),
                      (T0 + 2 * HOUR, sum(range(13, 19)))]
