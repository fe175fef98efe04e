"""The time ranges cost questions are asked over: the calendar day, week and month so far
(UTC, as budgets count them), or a rolling span such as 24h or 7d."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from axtui.units import parse_duration

CALENDAR = ("day", "week", "month")


class Window(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str  # what the user typed: "day", "7d"
    since: float
    until: float

    @property
    def seconds(self) -> float:
        return self.until - self.since


def period_start(now: float, period: str) -> float:
    """Start of the UTC day, ISO week (Monday) or month holding `now`."""
    t = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        t -= timedelta(days=t.weekday())
    elif period == "month":
        t = t.replace(day=1)
    elif period != "day":
        raise ValueError(f"unknown period {period!r}: use day, week or month")
    return t.timestamp()


def period_end(now: float, period: str) -> float:
    """End (exclusive) of the UTC day, week or month holding `now`."""
    start = datetime.fromtimestamp(period_start(now, period), UTC)
    if period == "day":
        return (start + timedelta(days=1)).timestamp()
    if period == "week":
        return (start + timedelta(days=7)).timestamp()
    nxt = (start.replace(year=start.year + 1, month=1) if start.month == 12
           else start.replace(month=start.month + 1))
    return nxt.timestamp()


def window(text: str, now: float) -> Window:
    """`day`/`week`/`month` (so far) or a rolling span (`24h`, `7d`) ending at `now`.
    Raises ValueError with one line naming the bad text."""
    label = text.strip().lower()
    if label in CALENDAR:
        return Window(label=label, since=period_start(now, label), until=now)
    try:
        span = parse_duration(label)
    except ValueError:
        raise ValueError(f"unknown range {text!r}: use day, week, month or a span such as "
                         "24h, 7d") from None
    return Window(label=label, since=now - span, until=now)
