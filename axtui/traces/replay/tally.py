"""A summary of a stream of records in flat memory: latencies go into log-bucket histograms
(axtui.quantiles, within 1.93%), not lists, so a million-line trace costs what ten do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axtui.quantiles import bucket_of, histogram_percentile
from axtui.records import Outcome

_OK, _REJECTED = Outcome.ok.value, Outcome.rejected.value


def _text(v: str) -> str:
    """An enum's value, or the string itself (both hash alike; only the str is kept)."""
    return v if type(v) is str else v.value


def _q(hist: dict[int, int], q: float) -> float | None:
    v = histogram_percentile(hist, q)
    return None if v is None else round(v, 1)


def _count(counts: dict, key: object) -> None:
    counts[key] = counts.get(key, 0) + 1


def _texts(counts: dict) -> dict[str, int]:
    """Counts keyed by enum members or their strings, as sorted plain strings."""
    return dict(sorted((_text(k), n) for k, n in counts.items()))


# Counts are plain dicts (`d[k] = d.get(k, 0) + 1`): a Counter's item access is not a
# dict's fast path, and this runs per record.
@dataclass
class _Dep:
    attempts: int = 0
    ok: int = 0
    served: int = 0  # requests this deployment answered (the split)
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[int, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nano: int = 0


@dataclass
class _Route:
    requests: int = 0
    ok: int = 0
    failovers: int = 0
    rejected: int = 0
    latency: dict[int, int] = field(default_factory=dict)
    cost_nano: int = 0


class Tally:
    """Feed records with `add`; `to_dict()` is the summary (sorted keys: deterministic)."""

    def __init__(self) -> None:
        self.requests = 0
        self.ok = 0
        self.cost_nano = 0
        self.optimal_cost_nano = 0
        self.outcomes: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.latency: dict[int, int] = {}
        self.first: float | None = None
        self.last: float | None = None
        self.deps: dict[str, _Dep] = {}
        self.routes: dict[str, _Route] = {}
        self.flags: dict[str, dict[str, int]] = {}  # flag -> variant -> requests

    def add(self, r: Any) -> None:
        """One record: a RequestRecord, or its fields as read from its line
        (axtui/record_fields.py), read alike as attributes."""
        self.requests += 1
        started, ended = r.started_at, r.ended_at
        if self.first is None or started < self.first:
            self.first = started
        if self.last is None or ended > self.last:
            self.last = ended
        outcome = r.outcome
        _count(self.outcomes, outcome)
        cost = r.cost_nano
        self.cost_nano += cost
        flags = r.flags
        if flags:
            for name, variant in flags.items():
                c = self.flags.get(name)
                if c is None:
                    c = self.flags[name] = {}
                _count(c, variant)
        route = r.route
        rs = self.routes.get(route)
        if rs is None:
            rs = self.routes[route] = _Route()
        rs.requests += 1
        rs.cost_nano += cost
        attempts = r.attempts
        deps = self.deps
        if outcome == _OK:
            self.ok += 1
            rs.ok += 1
            b = bucket_of(r.latency_ms)
            _count(self.latency, b)
            _count(rs.latency, b)
            if len(attempts) > 1:
                rs.failovers += 1
            optimal = r.optimal_cost_nano
            self.optimal_cost_nano += cost if optimal is None else optimal
            served = r.deployment
            if served:
                ds = deps.get(served)
                if ds is None:
                    ds = deps[served] = _Dep()
                ds.served += 1
        else:
            if r.error_kind is not None:
                _count(self.errors, r.error_kind)
            if outcome == _REJECTED:
                rs.rejected += 1
        for a in attempts:
            name = a.deployment
            ds = deps.get(name)
            if ds is None:
                ds = deps[name] = _Dep()
            ds.attempts += 1
            ds.cost_nano += a.cost_nano
            u = a.usage
            if u is not None:
                ds.prompt_tokens += u.prompt_tokens
                ds.completion_tokens += u.completion_tokens
            kind = a.error_kind
            if kind is None:
                ds.ok += 1
                _count(ds.latency, bucket_of(a.latency_ms))
            else:
                _count(ds.errors, kind)

    @property
    def p95_ms(self) -> float | None:
        return _q(self.latency, 0.95)

    @property
    def failed(self) -> int:
        return self.requests - self.ok

    def to_dict(self) -> dict:
        deployments = [{
            "deployment": name, "attempts": d.attempts, "ok": d.ok,
            "success_rate": round(d.ok / d.attempts, 4) if d.attempts else None,
            "served": d.served, "errors": _texts(d.errors),
            "p50_ms": _q(d.latency, 0.5), "p95_ms": _q(d.latency, 0.95),
            "prompt_tokens": d.prompt_tokens, "completion_tokens": d.completion_tokens,
            "cost_nano": d.cost_nano,
        } for name, d in sorted(self.deps.items(), key=lambda kv: (-kv[1].attempts, kv[0]))]
        routes = [{
            "route": name, "requests": r.requests, "ok": r.ok, "failovers": r.failovers,
            "rejected": r.rejected, "p50_ms": _q(r.latency, 0.5), "p95_ms": _q(r.latency, 0.95),
            "cost_nano": r.cost_nano,
        } for name, r in sorted(self.routes.items(), key=lambda kv: (-kv[1].requests, kv[0]))]
        split = {name: round(d.served / self.ok, 4) for name, d in sorted(self.deps.items())
                 if d.served} if self.ok else {}
        return {
            "requests": self.requests, "ok": self.ok, "failed": self.failed,
            "outcomes": _texts(self.outcomes),
            "errors": _texts(self.errors),
            "p50_ms": _q(self.latency, 0.5), "p95_ms": self.p95_ms,
            "cost_nano": self.cost_nano, "optimal_cost_nano": self.optimal_cost_nano,
            "split": split,
            "flags": {name: dict(sorted(c.items())) for name, c in sorted(self.flags.items())},
            "duration_s": round(self.last - self.first, 3) if self.first is not None
            and self.last is not None else 0.0,
            "deployments": deployments, "routes": routes,
        }
