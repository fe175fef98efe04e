"""Cell text for the panes: numbers, bars and names cut to a width (no textual here)."""

from __future__ import annotations

from decimal import Decimal

from axtui.records import NANO_PER_USD

DASH = "–"
_SPARKS = "▁▂▃▄▅▆▇█"


def usd_per_hour(nano: int | None, places: int = 2) -> str:
    if nano is None:
        return DASH
    return f"{Decimal(nano) / NANO_PER_USD:,.{places}f}"


def duration_ms(v: float | None) -> str:
    if v is None:
        return DASH
    return f"{v / 1000:.1f}s" if v >= 1000 else f"{v:.0f}ms"


def percent(v: float | None, places: int = 1) -> str:
    return DASH if v is None else f"{v * 100:.{places}f}"


def count(v: float) -> str:
    """540, 9.1k, 1.2M: a rate that fits five cells."""
    if v >= 999_500:
        return f"{v / 1e6:.1f}M"
    if v >= 9_995:
        return f"{v / 1e3:.0f}k"
    if v >= 1_000:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def age(seconds: float | None) -> str:
    """3s, 4m, 2h, 3d."""
    if seconds is None:
        return DASH
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s // 60:.0f}m"
    if s < 86400:
        return f"{s // 3600:.0f}h"
    return f"{s // 86400:.0f}d"


def headroom_bar(fraction: float | None, cells: int = 5) -> str:
    if fraction is None:
        return DASH
    full = round(max(0.0, min(1.0, fraction)) * cells)
    return "▰" * full + "▱" * (cells - full)


def fill_bar(pct: float, cells: int = 20) -> str:
    """A rollout's percentage as a bar: ▕████░░░░▏."""
    pct = max(0.0, min(100.0, pct))
    full = max(1, round(pct / 100 * cells)) if pct > 0 else 0  # a canary is never an empty bar
    return "▕" + "█" * full + "░" * (cells - full) + "▏"


def sparkline(values: tuple[int, ...] | list[int], cells: int = 10) -> str:
    """The last `cells` values as block characters, scaled to their own maximum."""
    tail = list(values)[-cells:]
    if not tail:
        return ""
    top = max(tail)
    if top <= 0:
        return _SPARKS[0] * len(tail)
    return "".join(_SPARKS[min(7, int(v / top * 7.999))] for v in tail)


def middle_cut(name: str, width: int) -> str:
    """`anthropic/claude…haiku`: a name cut in the middle keeps both of its ends."""
    if len(name) <= width:
        return name
    if width <= 1:
        return name[:width]
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return name[:head] + "…" + (name[-tail:] if tail else "")
