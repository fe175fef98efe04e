"""Request and attempt metrics, counted from the records the recorder prepares.

The recorder already reads every record off the serving path (a thread, or its own child
process with `recorder = "process"`), so counting there costs the serving process nothing
in process mode. A batch is first aggregated in dicts, then each series it touched is
written once: the mmap writes are per batch and series, not per record.

Records reach `observe` as models (the thread) or as the fields their JSON lines decode to
(the child; axtui/record_fields.py), read alike as attributes.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.utils import floatToGoString

from axtui.prometheus.files import MetricFiles, Value
from axtui.records import ErrorKind

log = logging.getLogger(__name__)

# Upper bounds (seconds) for LLM latencies, 50 ms to 2 min; +Inf follows.
BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0,
             30.0, 45.0, 60.0, 90.0, 120.0)
_BOUNDS_MS = tuple(b * 1000.0 for b in BUCKETS_S)
NO_ROUTE = ErrorKind.no_route.value
UNKNOWN_ROUTE = "(unknown)"  # the route label of requests for a route that does not exist
_LE = (*(floatToGoString(b) for b in BUCKETS_S), "+Inf")

REQUESTS = ("axtui_requests", "Requests finished, by route, serving deployment, its region, "
            "outcome and error kind.", ("route", "deployment", "region", "outcome",
                                        "error_kind"))
ATTEMPTS = ("axtui_attempts", "Calls to deployments, by outcome and error kind.",
            ("deployment", "outcome", "error_kind"))
COST = ("axtui_cost_usd", "Spend in US dollars, by route and attempted deployment.",
        ("route", "deployment"))
TOKENS = ("axtui_tokens", "Tokens used, by route, attempted deployment and type "
          "(prompt, completion).", ("route", "deployment", "type"))
REQUEST_SECONDS = ("axtui_request_duration_seconds", "Request latency, arrival to last byte, "
                   "by route, serving deployment, its region and outcome.",
                   ("route", "deployment", "region", "outcome"))
TTFT_SECONDS = ("axtui_time_to_first_token_seconds", "Time to the first streamed token.",
                ("route", "deployment"))
ATTEMPT_SECONDS = ("axtui_attempt_duration_seconds", "One call to one deployment.",
                   ("deployment", "outcome"))
CACHE_HITS = ("axtui_cache_hits", "Requests the response cache answered, by route and kind "
              "(exact, semantic); the hit rate is this over axtui_requests_total.",
              ("route", "cache"))
CACHE_SAVED = ("axtui_cache_saved_usd", "What the cache's hits would have cost on the cheapest "
               "capable deployment, in US dollars, by route.", ("route",))
OBSERVED = ("axtui_metrics_records", "Records counted into these metrics.", ())
OBSERVE_ERRORS = ("axtui_metrics_observe_errors", "Batches these metrics failed to count "
                  "(see the log).", ())


class _Histogram:
    __slots__ = ("buckets", "sum")

    def __init__(self, files: MetricFiles, spec: tuple, labels: tuple) -> None:
        name, help_text, names = spec
        self.buckets = [files.value("histogram", name, name + "_bucket", (*names, "le"),
                                    (*labels, le), help_text) for le in _LE]
        self.sum = files.value("histogram", name, name + "_sum", names, labels, help_text)

    def add(self, latencies_ms: Sequence[float]) -> None:
        counts = [0] * len(self.buckets)
        for ms in latencies_ms:
            counts[bisect_left(_BOUNDS_MS, ms)] += 1
        for value, n in zip(self.buckets, counts, strict=True):
            if n:
                value.inc(n)
        self.sum.inc(sum(latencies_ms) / 1000.0)


class RecordMetrics:
    """Counts batches of records into the multiprocess directory `path`."""

    def __init__(self, path: str | Path, routes: Collection[str] | None = None) -> None:
        self.files = MetricFiles.acquire(path)
        # the configured routes: any other name (a caller's free text) is UNKNOWN_ROUTE
        self.routes = frozenset(routes) if routes is not None else None
        self._series: dict[tuple, Value] = {}
        self._histograms: dict[tuple, _Histogram] = {}
        self.errors = 0
        self._observed = self._counter(OBSERVED, ())
        self._errors = self._counter(OBSERVE_ERRORS, ())

    def close(self) -> None:
        self.files.release()

    def add_routes(self, routes: Collection[str]) -> None:
        """A config reload's routes join the known ones (from the next batch on). Routes a
        reload removed stay known: their requests still in flight keep their label, and
        their series exist already, so nothing grows but by the operator's own names."""
        if self.routes is not None:
            self.routes = self.routes | frozenset(routes)

    def _counter(self, spec: tuple, labels: tuple) -> Value:
        v = self._series.get((spec, labels))
        if v is None:
            name, help_text, names = spec
            v = self._series[(spec, labels)] = self.files.value(
                "counter", name, name + "_total", names, labels, help_text)
        return v

    def _histogram(self, spec: tuple, labels: tuple) -> _Histogram:
        h = self._histograms.get((spec, labels))
        if h is None:
            h = self._histograms[(spec, labels)] = _Histogram(self.files, spec, labels)
        return h

    def observe(self, records: Iterable[Any]) -> None:
        """Count a batch. Never raises: a failure is logged and counted (the recorder's
        writing must go on)."""
        try:
            self._observe(records)
        except Exception:
            self.errors += 1
            log.exception("metrics: a batch of records could not be counted")
            try:
                self._errors.inc(1)
            except Exception as err:  # the files themselves are failing: the log has it
                log.error("metrics: could not count the failure either: %s", err)

    def _observe(self, records: Iterable[Any]) -> None:
        requests: dict[tuple, int] = defaultdict(int)
        attempts: dict[tuple, int] = defaultdict(int)
        cost: dict[tuple, int] = defaultdict(int)
        tokens: dict[tuple, int] = defaultdict(int)
        latency: dict[tuple, list[float]] = defaultdict(list)
        ttft: dict[tuple, list[float]] = defaultdict(list)
        attempt_latency: dict[tuple, list[float]] = defaultdict(list)
        hits: dict[tuple, int] = defaultdict(int)
        saved: dict[tuple, int] = defaultdict(int)
        n, known = 0, self.routes
        for r in records:
            n += 1
            # enums stay members here (they hash like their strings); labels are str()ed once
            route, dep, outcome, why = r.route, r.deployment or "", r.outcome, r.error_kind
            if why == NO_ROUTE or (known is not None and route not in known):
                route = UNKNOWN_ROUTE  # the caller's word: one series, not one per name
            # the serving deployment's configured region ("" when none or nothing served):
            # a config value, never the request's header, so its values are bounded
            region = r.region or ""
            requests[(route, dep, region, outcome, why or "")] += 1
            cache = r.cache
            if cache is not None:
                hits[(route, cache)] += 1
                saved[(route,)] += r.optimal_cost_nano or 0
            latency[(route, dep, region, outcome)].append(r.latency_ms)
            if r.ttft_ms is not None:
                ttft[(route, dep)].append(r.ttft_ms)
            for a in r.attempts:
                adep, kind = a.deployment, a.error_kind
                if kind is None:
                    attempts[(adep, "ok", "")] += 1
                    attempt_latency[(adep, "ok")].append(a.latency_ms)
                else:
                    attempts[(adep, "error", kind)] += 1
                    attempt_latency[(adep, "error")].append(a.latency_ms)
                if a.cost_nano:
                    cost[(route, adep)] += a.cost_nano
                u = a.usage
                if u is not None:
                    tokens[(route, adep, "prompt")] += u.prompt_tokens
                    tokens[(route, adep, "completion")] += u.completion_tokens
        if not n:
            return
        for labels, k in requests.items():
            self._counter(REQUESTS, labels).inc(k)
        for labels, k in attempts.items():
            self._counter(ATTEMPTS, labels).inc(k)
        for labels, nano in cost.items():
            self._counter(COST, labels).add_nano(nano)
        for labels, k in hits.items():
            self._counter(CACHE_HITS, labels).inc(k)
        for labels, nano in saved.items():
            self._counter(CACHE_SAVED, labels).add_nano(nano)
        for labels, k in tokens.items():
            if k:
                self._counter(TOKENS, labels).inc(k)
        for spec, groups in ((REQUEST_SECONDS, latency), (TTFT_SECONDS, ttft),
                             (ATTEMPT_SECONDS, attempt_latency)):
            for labels, values in groups.items():
                self._histogram(spec, labels).add(values)
        self._observed.inc(n)
