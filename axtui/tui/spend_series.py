"""The spend chart's data: $/h per provider, cut to a window and downsampled to the pane's
width (plotext redraws every point it is given). No textual here."""

from __future__ import annotations

from axtui.records import NANO_PER_USD
from axtui.snapshot.model import Spend

WINDOWS = (("1h", 3600.0), ("24h", 86_400.0), ("7d", 604_800.0))


def lines(spend: Spend, window_s: float, cells: int) -> list[tuple[str, list[float], list[float]]]:
    """(provider, x as hours before `until` (negative), $/h) per provider, at most `cells`
    points each: each point is the mean $/h of the steps that fall in its cell."""
    cells = max(2, cells)
    start = spend.until - window_s
    width = window_s / cells
    per_hour = 3600.0 / spend.step_s if spend.step_s > 0 else 0.0
    out = []
    for p in spend.by_provider:
        sums: dict[int, int] = {}
        counts: dict[int, int] = {}
        for pt in p.points:
            if pt.ts < start:
                continue
            i = min(cells - 1, int((pt.ts - start) // width))
            sums[i] = sums.get(i, 0) + pt.nano
            counts[i] = counts.get(i, 0) + 1
        if not sums:
            continue
        idx = sorted(sums)
        xs = [((start + (i + 0.5) * width) - spend.until) / 3600.0 for i in idx]
        ys = [sums[i] / counts[i] * per_hour / NANO_PER_USD for i in idx]
        out.append((p.provider, xs, ys))
    return out
