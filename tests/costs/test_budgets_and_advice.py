"""Budget status from the config's [[budgets]], and recommendations that appear when the
numbers support them and not otherwise."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axtui.config import BudgetConfig, parse_config
from axtui.costs import budget_status, optimal, recommendations
from tests.costs.conftest import HOUR, fill, served

DAY0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
USD = 1_000_000_000
WEEK = 7 * 86_400


def budget(scope: str, usd: str, period: str = "day") -> BudgetConfig:
    return BudgetConfig(scope=scope, period=period, limit_usd=Decimal(usd))


# --------------------------------------------------------------------------- budgets


def test_each_budget_shows_spend_share_used_and_thresholds(store):
    fill(store, [served("a/x", USD, at=DAY0 + 60, route="chat", user="alice"),
                 served("a/x", 3 * USD, at=DAY0 + 120, route="big", user="bob"),
                 served("a/x", 5 * USD, at=DAY0 - HOUR, route="chat", user="alice")])
    lines = budget_status(store, [budget("global", "5"), budget("route:chat", "2"),
                                  budget("user:*", "2")], DAY0 + 600)
    got = {(b.budget, b.scope): (b.spent_nano, b.limit_nano, b.used, b.thresholds_crossed)
           for b in lines}
    assert got == {
        ("global", "global"): (4 * USD, 5 * USD, 0.8, [50, 80]),
        ("route:chat", "route:chat"): (USD, 2 * USD, 0.5, [50]),
        ("user:*", "user:bob"): (3 * USD, 2 * USD, 1.5, [50, 80, 100]),
        ("user:*", "user:alice"): (USD, 2 * USD, 0.5, [50]),
    }
    assert [b.scope for b in lines if b.budget == "user:*"] == ["user:bob", "user:alice"]


def test_a_route_budget_adds_up_every_deployment_that_served_the_route(store):
    fill(store, [served("a/x", USD, at=DAY0 + 60, route="chat"),
                 served("b/y", 2 * USD, at=DAY0 + 120, route="chat"),
                 served("b/y", 4 * USD, at=DAY0 + 180, route="other")])
    (line,) = budget_status(store, [budget("route:chat", "10")], DAY0 + 600)
    assert (line.scope, line.spent_nano, line.used) == ("route:chat", 3 * USD, 0.3)


def test_a_budget_for_a_named_user_with_no_spend_shows_zero(store):
    fill(store, [served("a/x", USD, at=DAY0 + 60, user="alice")])
    (line,) = budget_status(store, [budget("user:carol", "1")], DAY0 + 600)
    assert (line.scope, line.spent_nano, line.used) == ("user:carol", 0, 0.0)


def test_a_monthly_budget_projects_steady_spend_to_the_end_of_the_month(store):
    fill(store, [served("a/x", 1_000, at=DAY0 + h * HOUR) for h in range(48)])
    (line,) = budget_status(store, [budget("global", "1", "month")], DAY0 + 48 * HOUR)
    assert line.spent_nano == 48_000
    assert line.projected_nano == 31 * 24 * 1_000
    assert line.period_end == 1_769_904_000.0


# --------------------------------------------------------------------------- optimal


def test_actual_against_optimal_is_exact_and_lists_the_pairs_that_overspend_most(store):
    fill(store, [served("a/dear", 1_000, optimal=100, route="chat"),
                 served("a/dear", 1_000, optimal=100, route="chat"),
                 served("b/mid", 500, optimal=400, route="chat"),
                 served("c/cheap", 100, route="chat"),
                 served("d/big", 9_000, optimal=8_999, route="big")])
    o = optimal(store, DAY0 - 10 * 86_400, DAY0 + 86_400)
    assert (o.cost_nano, o.optimal_cost_nano, o.overspend_nano) == (11_600, 9_699, 1_901)
    assert [(x.route, x.deployment, x.overspend_nano) for x in o.top] == [
        ("chat", "a/dear", 1_800), ("chat", "b/mid", 100), ("big", "d/big", 1)]
    assert [(r.route, r.overspend_nano) for r in o.routes] == [("chat", 1_900), ("big", 1)]


# --------------------------------------------------------------------------- advice

CONFIG = parse_config({
    "providers": {"sim": {"protocol": "sim", "sim": {}}},
    "deployments": [
        {"provider": "sim", "model": "dear", "price": {"input": "10", "output": "30"}},
        {"provider": "sim", "model": "cheap", "price": {"input": "0.1", "output": "0.3"}},
    ],
    "routes": {"chat": {"candidates": ["sim/dear", "sim/cheap"], "strategy": "priority"}},
})


def _chat(simple: int, other: int, *, simple_saves: bool = True) -> list:
    """`simple` simple requests on sim/dear at $0.01 (optimal $0.001 when they could have
    gone cheaper) and `other` complex ones at $0.02, already optimal."""
    out = [served("sim/dear", 10_000_000, optimal=1_000_000 if simple_saves else None,
                  at=DAY0 + i, complexity="simple") for i in range(simple)]
    out += [served("sim/dear", 20_000_000, at=DAY0 + 1000 + i, complexity="complex")
            for i in range(other)]
    return out


def test_many_simple_requests_on_a_dear_deployment_give_a_recommendation_with_real_numbers(
        store):
    fill(store, _chat(62, 38))
    recs = [r for r in recommendations(store, DAY0 - 6 * 86_400, DAY0 + 86_400,
                                       config=CONFIG) if r.kind == "simple_requests"]
    assert len(recs) == 1
    r = recs[0]
    assert r.subject == "chat" and r.saving_nano == 62 * 9_000_000
    assert r.text.startswith("62% of chat requests are simple (62 of 100); routing them to "
                             "the cheapest capable deployment (sim/cheap by list price) would "
                             "have saved $0.5580 over 7 days (90% of their $0.6200).")
    assert "simple_to_small = true" in r.text


def test_no_simple_request_recommendation_when_they_are_few(store):
    fill(store, _chat(10, 90))
    assert not [r for r in recommendations(store, DAY0, DAY0 + 86_400, config=CONFIG)
                if r.kind == "simple_requests"]


def test_no_recommendation_at_all_when_every_request_already_went_the_cheapest_way(store):
    fill(store, _chat(62, 38, simple_saves=False))
    assert recommendations(store, DAY0, DAY0 + 86_400, config=CONFIG) == []


def test_an_overspending_pair_is_named_with_the_strategy_to_change(store):
    fill(store, _chat(62, 38))
    (r,) = [r for r in recommendations(store, DAY0, DAY0 + 86_400, config=CONFIG)
            if r.kind == "overspend"]
    assert r.subject == "chat/sim/dear" and r.saving_nano == 62 * 9_000_000
    assert 'Its strategy is "priority"' in r.text


def test_savings_under_a_cent_are_not_worth_a_recommendation(store):
    fill(store, [served("sim/dear", 1_000, optimal=10, at=DAY0 + i, complexity="simple")
                 for i in range(100)])
    assert recommendations(store, DAY0, DAY0 + 86_400, config=CONFIG) == []


@pytest.mark.parametrize("spent_usd, word", [(6, "is spent"), (3, "is projected to reach")])
def test_a_budget_spent_or_projected_to_run_out_gives_a_recommendation(store, spent_usd, word):
    # steady spend every hour since midnight, asked at 06:00
    per_hour = spent_usd * USD // 6
    fill(store, [served("a/x", per_hour, at=DAY0 + h * HOUR + 60) for h in range(6)])
    lines = budget_status(store, [budget("global", "5")], DAY0 + 6 * HOUR)
    (r,) = recommendations(store, DAY0, DAY0 + 6 * HOUR, budgets=lines)
    assert r.kind == "budget" and word in r.text and "$5.0000" in r.text


def test_a_budget_on_track_gives_no_recommendation(store):
    fill(store, [served("a/x", USD // 10, at=DAY0 + h * HOUR + 60) for h in range(6)])
    lines = budget_status(store, [budget("global", "5")], DAY0 + 6 * HOUR)
    assert lines[0].projected_nano == 24 * USD // 10
    assert recommendations(store, DAY0, DAY0 + 6 * HOUR, budgets=lines) == []
