"""An SLO's good and bad requests over a window, read from the rollups (never the raw
records): one route's counters, its request latency histogram and its request error kinds,
each at the coarsest resolution tiling the window (store/windows.py), so a 28-day budget
reads a few dozen day, hour and minute rows.

Which requests count:
- availability: every request except those the caller caused (CALLER_KINDS: its quota or
  budget ran out, it named no route, left, or sent what no deployment takes); bad are the
  failed ones among them: failed, interrupted, and refused for want of a deployment
  (no_candidates, deadline).
- latency: every request that reached a provider (the rollups' latency histogram); bad are
  those over `latency_ms`. The histogram's buckets are 3.9% wide: a request in the bucket
  holding `latency_ms` counts as slow when the bucket's reported value (quantiles.py, the
  same value the p95/p99 figures show) is over it, so a request within 1.93% of the
  threshold may be counted on the other side; every other request is counted exactly.
Windows are whole minutes (the rollups' finest period), as every alert metric reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection

from axtui.quantiles import BUCKETS_PER_DOUBLING, first_bucket_over
from axtui.records import ErrorKind
from axtui.slo.model import Objective, SloConfig
from axtui.store import windows
from axtui.store.rollups import REQUEST
from axtui.store.tables import SLOTS, rollup_error_table, rollup_hist_table, rollup_table

CALLER_KINDS = frozenset(k.value for k in (
    ErrorKind.quota, ErrorKind.budget, ErrorKind.no_route, ErrorKind.cancelled,
    ErrorKind.bad_request, ErrorKind.context_length, ErrorKind.content_policy,
    ErrorKind.unsupported))


@dataclass(frozen=True, slots=True)
class Counts:
    """One route's requests over one window, as the SLOs count them."""

    requests: int = 0
    caller: int = 0  # failed by the caller's own doing: outside the availability SLO
    failed: int = 0  # failed otherwise: the availability SLO's bad requests
    timed: int = 0  # reached a provider: the latency SLO's requests
    slow: int = 0  # of those, over latency_ms
    kinds: dict[str, int] = field(default_factory=dict)  # failed (not caller) by kind

    def eligible(self, objective: Objective) -> int:
        return self.requests - self.caller if objective == "availability" else self.timed

    def bad(self, objective: Objective) -> int:
        return self.failed if objective == "availability" else self.slow


def route_counts(conn: Connection, route: str, since_ts: float, until_ts: float,
                 latency_ms: float | None = None) -> Counts:
    """`route`'s Counts over the whole minutes of [since_ts, until_ts): three reads of one
    tiling (as windows.scope_totals makes it), its retention check made once."""
    return routes_counts(conn, {route: latency_ms}, since_ts, until_ts)[route]


def routes_counts(conn: Connection, routes: Mapping[str, float | None], since_ts: float,
                  until_ts: float, oldest: dict | None = None) -> dict[str, Counts]:
    """Each route's Counts over the whole minutes of [since_ts, until_ts) (`routes`: route
    -> its latency SLO's threshold, or None), read for all of them at once: three grouped
    reads of one tiling, whatever the number of routes (`oldest`: windows.retained's)."""
    out = {route: Counts() for route in routes}
    segments = windows.range_segments(conn, since_ts, until_ts, oldest)
    if not segments:
        return out
    # Plain SQL with bound values, read through windows.read: built as SQLAlchemy
    # expressions and executed by it, these three reads cost several times what SQLite
    # spends on them; an alert evaluation reads five windows or more.
    params: dict[str, object] = {"series": REQUEST}
    where = windows.segments_sql(segments, params)
    sums = {route: (int(requests), int(errors)) for route, requests, errors in windows.read(
        conn, f"SELECT route, coalesce(sum(requests), 0), coalesce(sum(errors), 0) "
              f"FROM {rollup_table.name} "
              f"WHERE {windows.in_sql('route', 'n', sorted(routes), params)} "
              f"AND {where} GROUP BY route", params) if requests}
    if not sums:
        return out
    live = sorted(sums)
    by_kind: dict[str, dict[str, int]] = {route: {} for route in live}
    for route, kind, n in windows.read(
            conn, f"SELECT route, kind, sum(n) FROM {rollup_error_table.name} "
                  f"WHERE series = :series AND {windows.in_sql('route', 'l', live, params)} "
                  f"AND {where} GROUP BY route, kind", params):
        by_kind[route][kind] = int(n)
    timed_n = dict.fromkeys(live, 0)
    slow_n = dict.fromkeys(live, 0)
    timed = [route for route in live if routes[route] is not None]
    if timed:  # request latencies are kept per route (deployment "")
        for route, n, slow in windows.read(
                conn, f"SELECT route, sum({_ALL_SLOTS}), sum({_slow_sql(timed, routes, params)}) "
                      f"FROM {rollup_hist_table.name} WHERE series = :series "
                      f"AND {windows.in_sql('route', 't', timed, params)} "
                      f"AND {where} GROUP BY route", params):
            timed_n[route], slow_n[route] = int(n), int(slow)
    for route in live:
        requests, errors = sums[route]
        kinds = by_kind[route]
        caller = sum(n for k, n in kinds.items() if k in CALLER_KINDS)
        out[route] = Counts(requests=requests, caller=caller, failed=errors - caller,
                            timed=int(timed_n[route]), slow=int(slow_n[route]),
                            kinds={k: n for k, n in kinds.items() if k not in CALLER_KINDS})
    return out


_ALL_SLOTS = " + ".join(SLOTS)  # a histogram row's requests


def _slow_sql(timed: list[str], thresholds: Mapping[str, float | None],
              params: dict[str, object]) -> str:
    """A histogram row's requests over its route's latency_ms, as SQL: the buckets from
    `first_bucket_over(latency_ms)` on report a value over it (bucket_value rises), i.e.
    every bucket of the octaves above that bucket's and its own from it on. Summed by
    SQLite per route, not 18 sums a row handed to Python (the SLO reads were most of an
    alert evaluation's SQL)."""
    cases = []
    for i, route in enumerate(timed):
        octave, slot = divmod(first_bucket_over(thresholds[route]), BUCKETS_PER_DOUBLING)
        params[f"s{i}"], params[f"o{i}"] = route, octave
        part = " + ".join(SLOTS[slot:])
        cases.append(f"WHEN :s{i} THEN (CASE WHEN octave > :o{i} THEN {_ALL_SLOTS} "
                     f"WHEN octave = :o{i} THEN {part} ELSE 0 END)")
    return f"CASE route {' '.join(cases)} ELSE 0 END"


def burn_rate(counts: Counts, slo: SloConfig, objective: Objective) -> float | None:
    """How fast the window spent budget: its bad share over the share the SLO allows (1.0
    spends exactly the budget over the SLO's window). None: no requests to judge."""
    n = counts.eligible(objective)
    if n <= 0:
        return None
    return counts.bad(objective) / n / slo.budget_fraction(objective)


def budget_left(counts: Counts, slo: SloConfig, objective: Objective) -> float | None:
    """The share of the window's error budget not spent (1.0 untouched, below 0 overspent);
    None without requests."""
    n = counts.eligible(objective)
    if n <= 0:
        return None
    return 1.0 - counts.bad(objective) / (n * slo.budget_fraction(objective))


class BurnReader:
    """Burn rates for the alert evaluator: each (route, window) read once per evaluation."""

    def __init__(self, conn: Connection, slos: dict[str, SloConfig],
                 oldest: dict | None = None) -> None:
        self.conn = conn
        self.slos = slos
        self._counts: dict[tuple[str, float, float], Counts] = {}
        # the rollups' oldest periods, read once an evaluation (shared with its other reads)
        self._oldest: dict = {} if oldest is None else oldest

    def counts(self, route: str, since_ts: float, until_ts: float) -> Counts:
        """Read for every SLO route at once, on the first ask of a window: the rules ask
        each route for the same windows."""
        key = (route, since_ts, until_ts)
        c = self._counts.get(key)
        if c is None:
            every = routes_counts(self.conn, {r: s.latency_ms for r, s in self.slos.items()},
                                  since_ts, until_ts, self._oldest)
            for r, counts in every.items():
                self._counts[(r, since_ts, until_ts)] = counts
            c = self._counts[key]
        return c

    def value(self, route: str, objective: Objective, long_s: float, short_s: float | None,
              now: float) -> float | None:
        """The lower of the two windows' burn rates (over a threshold only when both are);
        None when the route has no such SLO or the long window no requests. A short window
        without requests burns nothing."""
        slo = self.slos.get(route)
        if slo is None or objective not in slo.objectives():
            return None
        long_rate = burn_rate(self.counts(route, now - long_s, now), slo, objective)
        if long_rate is None or short_s is None:
            return long_rate
        short_rate = burn_rate(self.counts(route, now - short_s, now), slo, objective)
        return min(long_rate, short_rate or 0.0)
