"""The ranges cost questions are asked over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from axtui.costs import window
from axtui.costs.window import period_end


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


NOW = ts("2026-03-12T15:30:00")  # a Thursday


@pytest.mark.parametrize("label, since", [("day", "2026-03-12T00:00:00"),
                                          ("week", "2026-03-09T00:00:00"),
                                          ("month", "2026-03-01T00:00:00"),
                                          ("24h", "2026-03-11T15:30:00"),
                                          ("7d", "2026-03-05T15:30:00"),
                                          ("90m", "2026-03-12T14:00:00")])
def test_calendar_ranges_run_from_the_utc_period_start_and_spans_back_from_now(label, since):
    w = window(label, NOW)
    assert (w.since, w.until) == (ts(since), NOW)


def test_periods_end_at_the_next_day_week_and_month():
    assert period_end(NOW, "day") == ts("2026-03-13T00:00:00")
    assert period_end(NOW, "week") == ts("2026-03-16T00:00:00")
    assert period_end(ts("2026-12-31T23:59:00"), "month") == ts("2027-01-01T00:00:00")


@pytest.mark.parametrize("text", ["fortnight", "", "-1d", "d"])
def test_anything_else_is_refused_naming_the_range(text):
    with pytest.raises(ValueError, match="unknown range"):
        window(text, NOW)
