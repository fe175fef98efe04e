"""End-of-period spend: spent so far plus a linear trend fitted to hourly spend.

Method (deterministic; no sampling):
- Hourly spend over a lookback (24 h for the day, 7 d for the month), complete hours only,
  from the first hour with any spend, zero hours kept.
- Ordinary least squares, y = a + b·x (x in hours): the fitted line is the spend rate and
  b its trend (rising/falling when b's 95% confidence interval excludes 0, else flat).
- The rest of the period is the weighted sum of the line's future hourly values (the
  current hour weighted by the fraction left; a negative rate counts as 0), added to what
  is already spent.
- The 95% interval is the prediction interval of that sum, treating hours as independent
  with the residual variance s²: Var = s²·(Σw² + (Σw)²/n + (Σw(x−x̄))²/Sxx), scaled by
  Student's t with n−2 degrees of freedom; the low end is never below what is spent.
  Fewer than 3 hours: the last complete hour's rate carried forward, no interval; no
  complete hour with spend yet (a young store): this hour's spend so far as a rate.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Literal

from axtui.costs import queries as q
from axtui.costs.model import Frozen, connection
from axtui.costs.window import period_end, period_start

HOUR = 3600
MIN_PARTIAL_S = 600  # this hour's rate is taken over at least 10 minutes (no wild guesses)
LOOKBACK_S = {"day": 86_400, "month": 7 * 86_400}
Trend = Literal["rising", "falling", "flat", "unknown"]


class Fit(Frozen):
    n: int
    intercept: float  # nano-dollars per hour at x = 0
    slope: float  # nano-dollars per hour, per hour
    residual_sd: float
    x_mean: float
    sxx: float


class Projection(Frozen):
    scope: str  # "global", "route:chat", "user:alice", "key:..."
    period: str  # day | month
    period_start: float
    period_end: float
    at: float
    spent_nano: int
    projected_nano: int
    low_nano: int | None  # 95% prediction interval (None: too few hours to say)
    high_nano: int | None
    rate_nano_per_hour: int  # the fitted rate now
    slope_nano_per_hour2: float
    trend: Trend
    hours_fitted: int
    method: str


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, else the Cornish-Fisher
    expansion (Abramowitz & Stegun 26.7.5; within 0.003 at df = 3, closer above)."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def fit_line(xs: list[float], ys: list[float]) -> Fit:
    n = len(xs)
    xm, ym = sum(xs) / n, sum(ys) / n
    sxx = sum((x - xm) ** 2 for x in xs)
    slope = sum((x - xm) * (y - ym) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    intercept = ym - slope * xm
    sse = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    sd = math.sqrt(sse / (n - 2)) if n > 2 else 0.0
    return Fit(n=n, intercept=intercept, slope=slope, residual_sd=sd, x_mean=xm, sxx=sxx)


def project(hourly: list[tuple[int, int]], spent_nano: int, at: float, start: float,
            end: float, *, scope: str = "global", period: str = "day",
            this_hour_nano: int = 0) -> Projection:
    """The projection from complete hours of spend [(hour start, nano)] and what the
    current hour has spent so far (pure: the tests feed it known lines)."""
    first = next((i for i, (_, c) in enumerate(hourly) if c), None)
    points = hourly[first:] if first is not None else []
    hour_now = math.floor(at / HOUR) * HOUR
    # future hours: the rest of this one, then whole hours up to the end of the period
    future = [(hour_now, (min(end, hour_now + HOUR) - at) / HOUR)]
    h = hour_now + HOUR
    while h < end:
        future.append((h, (min(end, h + HOUR) - h) / HOUR))
        h += HOUR
    future = [(t, w) for t, w in future if w > 0]
    base = dict(scope=scope, period=period, period_start=start, period_end=end, at=at,
                spent_nano=spent_nano)
    if len(points) < 3:
        if points:
            rate, how = points[-1][1], "the last hour's rate"
        else:  # nothing complete yet: this hour so far, as a rate
            elapsed = max(MIN_PARTIAL_S, at - hour_now)
            rate, how = round(this_hour_nano * HOUR / elapsed), "this hour's rate so far"
        rest = round(rate * sum(w for _, w in future))
        return Projection(**base, projected_nano=spent_nano + rest, low_nano=None,
                          high_nano=None, rate_nano_per_hour=rate, slope_nano_per_hour2=0.0,
                          trend="unknown", hours_fitted=len(points),
                          method=f"too few complete hours to fit: {how} carried forward")
    x0 = points[0][0]
    fit = fit_line([(t - x0) / HOUR for t, _ in points], [float(c) for _, c in points])
    xs = [(t - x0) / HOUR for t, _ in future]
    ws = [w for _, w in future]
    rest = sum(w * max(0.0, fit.intercept + fit.slope * x) for x, w in zip(xs, ws, strict=True))
    df = fit.n - 2
    tq = t_quantile(0.975, df)
    sw = sum(ws)
    sxw = sum(w * (x - fit.x_mean) for x, w in zip(xs, ws, strict=True))
    var = fit.residual_sd**2 * (sum(w * w for w in ws) + sw * sw / fit.n
                                + (sxw * sxw / fit.sxx if fit.sxx else 0.0))
    margin = tq * math.sqrt(var)
    se_slope = fit.residual_sd / math.sqrt(fit.sxx) if fit.sxx else math.inf
    trend: Trend = "flat"
    if abs(fit.slope) > tq * se_slope:
        trend = "rising" if fit.slope > 0 else "falling"
    x_now = (at - x0) / HOUR
    return Projection(
        **base, projected_nano=spent_nano + round(rest),
        low_nano=spent_nano + max(0, round(rest - margin)),
        high_nano=spent_nano + round(rest + margin),
        rate_nano_per_hour=max(0, round(fit.intercept + fit.slope * x_now)),
        slope_nano_per_hour2=fit.slope, trend=trend, hours_fitted=fit.n,
        method=f"least-squares line over {fit.n} hourly points, 95% prediction interval",
    )


def projection(source: Any, period: str, at: float, *, scope: str = "global",
               lookback_s: float | None = None) -> Projection:
    """Spend at the end of the UTC day or month holding `at`, for the whole store
    ("global") or one "route:NAME", "user:ID" or "key:ID"."""
    if period not in LOOKBACK_S:
        raise ValueError(f"unknown period {period!r}: use day or month")
    kind, _, target = scope.partition(":")
    if kind not in ("global", "route", "user", "key") or (kind != "global") != bool(target):
        raise ValueError(f"unknown scope {scope!r}: use global, route:NAME, user:ID or key:ID")
    start, end = period_start(at, period), period_end(at, period)
    lookback = LOOKBACK_S[period] if lookback_s is None else lookback_s
    hour_now = math.floor(at / HOUR) * HOUR
    since = math.floor(min(start, hour_now - lookback) / HOUR) * HOUR
    with connection(source) as conn:
        if kind in ("global", "route"):
            rows = q.rolled_series(conn, "total", since, at, HOUR,
                                   route=target if kind == "route" else None)
            series = [(b, c) for b, _, c in rows]
        else:
            series = q.raw_series(conn, since, at, HOUR, **{kind: target})
    spent = sum(c for b, c in series if b >= start)
    by_hour = dict(series)
    fit_from = math.floor((hour_now - lookback) / HOUR) * HOUR
    hourly = [(h, by_hour.get(h, 0)) for h in range(fit_from, hour_now, HOUR)]
    return project(hourly, spent, at, start, end, scope=scope, period=period,
                   this_hour_nano=by_hour.get(hour_now, 0))
