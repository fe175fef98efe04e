"""Money, percentages and durations as people read them, and durations as people type them.

The one place these are formatted: the CLI, flag reports, budget messages, cost analytics
and the console all import from here. Money arrives as nano-dollars (1 USD = 1e9) and is
turned into text through Decimal, never a float division, so what is printed is exact.
"""

from __future__ import annotations

import re
from decimal import Decimal

NANO_PER_USD = 1_000_000_000  # the same constant as axtui.records (kept import-free here)
DASH = "–"  # what a missing value prints as

SECOND, MINUTE, HOUR, DAY, WEEK = 1.0, 60.0, 3600.0, 86_400.0, 604_800.0


def usd(nano: int | float | None, places: int = 4, *, sign: bool = True,
        grouping: bool = True) -> str:
    """`$1,234.5678` from nano-dollars; a float (a mean) is first rounded to whole nanos."""
    if nano is None:
        return DASH
    amount = Decimal(nano if isinstance(nano, int) else round(nano)) / NANO_PER_USD
    text = f"{amount:,.{places}f}" if grouping else f"{amount:.{places}f}"
    return "$" + text if sign else text


def to_usd(nano: int) -> Decimal:
    """Exact dollars (for JSON: Decimal prints as a string, never a rounded float)."""
    return Decimal(nano) / NANO_PER_USD


def pct(fraction: float | None, places: int = 1) -> str:
    """`12.3%` from 0.123."""
    return DASH if fraction is None else f"{fraction * 100:.{places}f}%"


def pct_points(percent: float | None, places: int = 1) -> str:
    """`12.3%` from 12.3 (a value already in percent)."""
    return DASH if percent is None else f"{percent:.{places}f}%"


def ms(v: float | None) -> str:
    """A latency, compact: `850ms`, `1.23s`."""
    if v is None:
        return DASH
    return f"{v / 1000:.2f}s" if v >= 1000 else f"{v:.0f}ms"


def ms_plain(v: float | None) -> str:
    """A latency always in milliseconds, grouped: `1,234ms` (for side-by-side columns)."""
    return DASH if v is None else f"{v:,.0f}ms"


def duration(s: float) -> str:
    """A span of time, coarse: `45s`, `12 min`, `3.5 h`."""
    s = max(0.0, s)
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


_SPAN = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}


def parse_duration(text: str) -> float:
    """Seconds from `90s`, `15m`, `1h30m`, `7d`, `2w` (units ms s m h d w; a bare number is
    seconds). Raises ValueError naming the text when it is not one."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        pos, seconds = 0, 0.0
        for m in _SPAN.finditer(value):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT[m.group(2)]
            pos = m.end()
        if pos == 0 or pos != len(value):
            raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h, 7d)") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be positive: {text!r}")
    return seconds
