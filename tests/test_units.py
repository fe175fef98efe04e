"""Formatting of money, percentages and durations, and durations as people type them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axtui.units import duration, ms, ms_plain, parse_duration, pct, pct_points, to_usd, usd


def test_money_prints_exactly_from_nano_dollars_with_grouping():
    assert usd(1_234_567_890_123) == "$1,234.5679"
    assert usd(1, 9) == "$0.000000001"
    assert usd(1_000_000_000_000, grouping=False) == "$1000.0000"
    assert usd(5_000, 6, sign=False) == "0.000005"
    assert usd(None) == "–"


def test_a_mean_in_nano_dollars_is_rounded_to_whole_nanos_first():
    assert usd(1499.6, 9) == "$0.000001500"


def test_exact_dollars_for_json_are_decimals():
    assert to_usd(1_500_000_001) == Decimal("1.500000001")


def test_percent_from_a_fraction_and_from_points():
    assert pct(0.1234) == "12.3%" and pct(0.1234, 2) == "12.34%" and pct(None) == "–"
    assert pct_points(12.34) == "12.3%"


def test_latency_compact_and_plain():
    assert ms(850) == "850ms" and ms(1234) == "1.23s" and ms(None) == "–"
    assert ms_plain(1234.4) == "1,234ms"


def test_coarse_durations():
    assert duration(45) == "45s" and duration(600) == "10 min" and duration(9000) == "2.5 h"


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("1h30m", 5400),
                                           ("7d", 604_800), ("2w", 1_209_600), ("30", 30),
                                           ("250ms", 0.25), (" 24H ", 86_400)])
def test_durations_parse_as_typed(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "7x", "1h 2m", "-5m", "0s", "1d2", "inf"])
def test_anything_else_is_refused_with_the_text_named(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
