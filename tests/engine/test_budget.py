"""Spend budgets: refusals until the period ends, threshold events once each, UTC day and
month periods, per-user scopes, and seeding from the store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from axtui.clock import VirtualClock
from axtui.config import BudgetConfig
from axtui.engine.budget import Budgets, ThresholdCrossed

DOLLAR = 1_000_000_000  # nano-dollars


def at(*ymdhm: int) -> float:
    return datetime(*ymdhm, tzinfo=UTC).timestamp()


def budgets(*cfgs: dict, start: float = at(2026, 3, 10, 10, 0)
            ) -> tuple[VirtualClock, Budgets, list[ThresholdCrossed]]:
    clock = VirtualClock(start=start)
    events: list[ThresholdCrossed] = []
    b = Budgets(clock, [BudgetConfig(**c) for c in cfgs], events.append)
    return clock, b, events


def test_each_threshold_is_announced_once_as_spend_crosses_it():
    clock, b, events = budgets({"limit_usd": "1"})
    for usd in (0.4, 0.2, 0.1, 0.15, 0.2, 0.3):
        b.record("chat", None, None, int(usd * DOLLAR))
    assert [(e.scope, e.threshold) for e in events] == [
        ("global", 50), ("global", 80), ("global", 100)]
    assert events[0].spent_nano == 600_000_000
    assert events[0].limit_nano == DOLLAR


def test_one_big_charge_announces_every_threshold_it_jumps_over():
    clock, b, events = budgets({"limit_usd": "1"})
    b.record("chat", None, None, 900_000_000)
    assert [e.threshold for e in events] == [50, 80]


def test_spend_under_the_limit_is_allowed():
    clock, b, _ = budgets({"limit_usd": "1"})
    b.record("chat", None, None, 999_999_999)
    assert b.check("chat", None, None).ok


def test_a_spent_budget_refuses_until_the_end_of_the_utc_day():
    clock, b, _ = budgets({"limit_usd": "1"}, start=at(2026, 3, 10, 10, 0))
    b.record("chat", None, None, DOLLAR)
    d = b.check("chat", None, None)
    assert not d.ok
    assert d.scope == "global"
    assert d.retry_after_s == pytest.approx(14 * 3600)
    assert d.reason == "daily budget for global is spent: $1.0000 of $1.0000"


def test_the_day_rolls_over_at_utc_midnight():
    clock, b, events = budgets({"limit_usd": "1"}, start=at(2026, 3, 10, 23, 0))
    b.record("chat", None, None, DOLLAR)
    clock.set(at(2026, 3, 10, 23, 59, 59))
    assert not b.check("chat", None, None).ok
    clock.set(at(2026, 3, 11, 0, 0))
    assert b.check("chat", None, None).ok
    b.record("chat", None, None, DOLLAR // 2)
    assert [e.threshold for e in events] == [50, 80, 100, 50]  # a new period, new events


def test_a_monthly_budget_holds_until_the_first_of_next_month():
    clock, b, _ = budgets({"limit_usd": "10", "period": "month"}, start=at(2026, 1, 5, 12))
    b.record("chat", None, None, 10 * DOLLAR)
    d = b.check("chat", None, None)
    assert d.reason.startswith("monthly budget for global is spent")
    assert d.retry_after_s == pytest.approx(at(2026, 2, 1) - at(2026, 1, 5, 12))
    clock.set(at(2026, 1, 31, 23, 59))
    assert not b.check("chat", None, None).ok
    clock.set(at(2026, 2, 1))
    assert b.check("chat", None, None).ok


def test_a_december_month_budget_ends_on_new_year():
    clock, b, _ = budgets({"limit_usd": "1", "period": "month"}, start=at(2026, 12, 31, 12))
    b.record("chat", None, None, DOLLAR)
    assert b.check("chat", None, None).retry_after_s == pytest.approx(12 * 3600)


def test_a_per_user_budget_counts_each_user_apart():
    clock, b, events = budgets({"scope": "user:*", "limit_usd": "1"})
    b.record("chat", "alice", None, DOLLAR)
    b.record("chat", "bob", None, DOLLAR // 10)
    refused = b.check("chat", "alice", None)
    assert not refused.ok and refused.scope == "user:alice"
    assert b.check("chat", "bob", None).ok
    assert b.check("chat", None, None).ok  # anonymous callers are not in a user scope
    assert {s.scope: s.spent_nano for s in b.status()} == {
        "user:alice": DOLLAR, "user:bob": DOLLAR // 10}
    assert {e.scope for e in events} == {"user:alice"}


def test_a_named_user_budget_applies_to_that_user_only():
    clock, b, _ = budgets({"scope": "user:alice", "limit_usd": "1"})
    b.record("chat", "alice", None, DOLLAR)
    b.record("chat", "bob", None, 5 * DOLLAR)
    assert not b.check("chat", "alice", None).ok
    assert b.check("chat", "bob", None).ok


def test_a_route_budget_charges_only_its_route():
    clock, b, _ = budgets({"scope": "route:chat-large", "limit_usd": "1"})
    b.record("chat-large", None, None, DOLLAR)
    assert not b.check("chat-large", None, None).ok
    assert b.check("chat", None, None).ok


def test_the_first_exhausted_budget_is_the_one_named():
    clock, b, _ = budgets({"limit_usd": "100"}, {"scope": "user:*", "limit_usd": "1"})
    b.record("chat", "alice", None, DOLLAR)
    assert b.check("chat", "alice", None).scope == "user:alice"


def test_seeded_spend_counts_toward_the_limit():
    clock, b, _ = budgets({"limit_usd": "1"}, {"scope": "user:*", "limit_usd": "1"})
    b.seed({"global": DOLLAR // 2, "user:alice": DOLLAR})
    assert not b.check("chat", "alice", None).ok
    assert b.check("chat", "bob", None).ok
    b.record("chat", "bob", None, DOLLAR // 2)
    assert not b.check("chat", "bob", None).ok  # the global budget now: seeded half + half


def test_thresholds_already_passed_by_seeded_spend_are_not_announced_again():
    clock, b, events = budgets({"limit_usd": "1"})
    b.seed({"global": 600_000_000})
    b.record("chat", None, None, 100_000_000)
    assert events == []
    b.record("chat", None, None, 100_000_000)
    assert [e.threshold for e in events] == [80]


def test_free_requests_charge_nothing_and_announce_nothing():
    clock, b, events = budgets({"limit_usd": "0.000000001"})
    b.record("chat", None, None, 0)
    assert events == []
    assert b.check("chat", None, None).ok
