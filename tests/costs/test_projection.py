"""End-of-period projections: a least-squares trend on hourly spend with a 95% interval,
tested on lines whose slope is known."""

from __future__ import annotations

import random

import pytest

from axtui.costs import projection
from axtui.costs.projection import fit_line, project, t_quantile
from tests.costs.conftest import HOUR, fill, served

DAY0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday


def hours(values: list[int], start: float = DAY0) -> list[tuple[int, int]]:
    return [(int(start + i * HOUR), v) for i, v in enumerate(values)]


@pytest.mark.parametrize("df, expected", [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571),
                                          (10, 2.228), (30, 2.042), (200, 1.972)])
def test_t_quantile_matches_the_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=0.004)


def test_the_fit_recovers_a_known_line_exactly():
    f = fit_line([0, 1, 2, 3, 4], [100, 150, 200, 250, 300])
    assert (f.intercept, f.slope, f.residual_sd) == (100, 50, 0)


def test_a_noiseless_rising_line_projects_exactly_with_a_zero_width_interval():
    # 12 complete hours at 1000 + 100·h nano-dollars, asked at 12:00: the rest of the day
    # is hours 12..23, i.e. sum(1000 + 100·h) = 12·1000 + 100·(12+...+23)
    spent = sum(1000 + 100 * h for h in range(12))
    p = project(hours([1000 + 100 * h for h in range(12)]), spent, DAY0 + 12 * HOUR, DAY0,
                DAY0 + 24 * HOUR)
    rest = 12 * 1000 + 100 * sum(range(12, 24))
    assert p.projected_nano == spent + rest
    assert p.low_nano == p.high_nano == p.projected_nano
    assert p.trend == "rising" and p.slope_nano_per_hour2 == pytest.approx(100)
    assert p.rate_nano_per_hour == 2200 and p.hours_fitted == 12


def _noisy_day(seed: int):
    """36 hours of 50000 + 2000·h nano-dollars an hour plus noise (sd 3000), projected at
    hour 36 to the end of day 2 (hour 48); returns the projection and the real outcome."""
    rng = random.Random(seed)
    noisy = [round(50_000 + 2_000 * h + rng.gauss(0, 3_000)) for h in range(48)]
    spent = sum(noisy[24:36])
    p = project(hours(noisy[:36]), spent, DAY0 + 36 * HOUR, DAY0 + 24 * HOUR,
                DAY0 + 48 * HOUR)
    return p, spent + sum(noisy[36:48])


def test_noisy_data_recovers_the_known_slope():
    slopes = [_noisy_day(seed)[0].slope_nano_per_hour2 for seed in range(50)]
    # one fit's slope has a standard error of 3000/sqrt(Sxx = 3885) = 48; the mean of 50
    # fits has 7
    assert sum(slopes) / len(slopes) == pytest.approx(2_000, abs=25)
    assert all(_noisy_day(seed)[0].trend == "rising" for seed in range(10))


def test_the_95_percent_interval_holds_the_real_outcome_about_95_percent_of_the_time():
    runs = [_noisy_day(seed) for seed in range(300)]
    held = sum(p.low_nano <= actual <= p.high_nano for p, actual in runs)
    assert 0.90 <= held / len(runs) <= 0.99
    assert all(p.low_nano < p.projected_nano < p.high_nano for p, _ in runs)


def test_a_flat_noisy_series_is_called_flat():
    rng = random.Random(5)
    flat = [round(10_000 + rng.gauss(0, 500)) for _ in range(24)]
    p = project(hours(flat), 0, DAY0 + 24 * HOUR, DAY0 + 24 * HOUR, DAY0 + 48 * HOUR)
    assert p.trend == "flat"
    assert p.projected_nano == pytest.approx(24 * 10_000, rel=0.05)


def test_a_falling_rate_never_projects_negative_spend():
    p = project(hours([10_000 - 1_000 * h for h in range(10)]), 55_000, DAY0 + 10 * HOUR,
                DAY0, DAY0 + 24 * HOUR)
    assert p.trend == "falling"
    assert p.projected_nano == 55_000 and p.low_nano == 55_000


def test_with_fewer_than_three_hours_the_last_rate_carries_forward_without_an_interval():
    p = project(hours([0, 0, 4_000]), 4_000, DAY0 + 3 * HOUR, DAY0, DAY0 + 24 * HOUR)
    assert p.trend == "unknown" and p.low_nano is None and p.high_nano is None
    assert p.projected_nano == 4_000 + 21 * 4_000


def test_a_store_younger_than_an_hour_projects_this_hours_rate_not_zero():
    # 20 minutes into the first hour, 1,000 nano spent: 3,000 an hour for the 23 h 40 left
    at = DAY0 + 20 * 60
    p = project(hours([0, 0]), 1_000, at, DAY0, DAY0 + 24 * HOUR, this_hour_nano=1_000)
    assert p.rate_nano_per_hour == 3_000
    assert p.projected_nano == 1_000 + round(3_000 * (24 * HOUR - 20 * 60) / HOUR)
    assert "this hour's rate so far" in p.method


def test_projection_of_a_young_store_reads_the_current_hour(store):
    fill(store, [served("openai/gpt-4o-mini", 5_000, at=DAY0 + 60 * m) for m in range(30)])
    p = projection(store, "day", DAY0 + 30 * 60)
    assert p.spent_nano == 150_000 and p.rate_nano_per_hour == 300_000


def test_projection_from_the_store_fits_recorded_hourly_spend(store):
    # one request an hour for 6 hours, each 1000 nano dearer than the last; asked at 06:30
    fill(store, [served("openai/gpt-4o-mini", 10_000 + 1_000 * h, at=DAY0 + h * HOUR + 60)
                 for h in range(6)] + [served("openai/gpt-4o-mini", 16_000,
                                              at=DAY0 + 6 * HOUR + 60)])
    p = projection(store, "day", DAY0 + 6.5 * HOUR)
    spent = sum(10_000 + 1_000 * h for h in range(7))
    assert p.spent_nano == spent
    assert p.slope_nano_per_hour2 == pytest.approx(1_000)
    # the rest of hour 6 (half), then hours 7..23 on the line 10000 + 1000·h
    rest = 0.5 * 16_000 + sum(10_000 + 1_000 * h for h in range(7, 24))
    assert p.projected_nano == spent + round(rest)
    assert p.period_end == DAY0 + 24 * HOUR


def test_projection_for_one_route_counts_only_that_route(store):
    fill(store, [served("a/x", 1_000, at=DAY0 + h * HOUR, route="chat") for h in range(4)]
         + [served("a/x", 9_000, at=DAY0 + h * HOUR, route="other") for h in range(4)])
    p = projection(store, "day", DAY0 + 4 * HOUR, scope="route:chat")
    assert p.spent_nano == 4_000 and p.projected_nano == 24_000 and p.trend == "flat"
    u = projection(store, "day", DAY0 + 4 * HOUR, scope="user:alice")
    assert u.spent_nano == 40_000 and u.projected_nano == 240_000


def test_month_projection_runs_to_the_end_of_the_month(store):
    fill(store, [served("a/x", 1_000, at=DAY0 + h * HOUR) for h in range(48)])
    p = projection(store, "month", DAY0 + 48 * HOUR)
    assert p.period_end == 1_769_904_000.0  # 2026-02-01
    assert p.projected_nano == 31 * 24 * 1_000


@pytest.mark.parametrize("period, scope", [("week", "global"), ("day", "team:x"),
                                           ("day", "route:"), ("day", "global:x")])
def test_bad_periods_and_scopes_are_refused(store, period, scope):
    with pytest.raises(ValueError, match="unknown"):
        projection(store, period, DAY0, scope=scope)
