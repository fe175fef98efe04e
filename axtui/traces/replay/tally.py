"""A summary of a stream of records in flat memory: latencies go into log-bucket histograms
(axtui.quantiles, within 1.93%), not lists, so a million-line trace costs what ten do."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from axtui.quantiles import bucket_of, histogram_percentile
from axtui.records import Outcome, RequestRecord

_OK, _REJECTED = Outcome.ok.value, Outcome.rejected.value


def _text(v: str) -> str:
    """An enum's value, or the string itself (both hash alike; only the str is kept)."""
    return v if type(v) is str else v.value


def _q(hist: Counter[int], q: float) -> float | None:
    v = histogram_percentile(hist, q)
    return None if v is None else round(v, 1)


@dataclass
class _Dep:
    attempts: int = 0
    ok: int = 0
    served: int = 0  # requests this deployment answered (the split)
    errors: Counter[str] = field(default_factory=Counter)
    latency: Counter[int] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nano: int = 0


@dataclass
class _Route:
    requests: int = 0
    ok: int = 0
    failovers: int = 0
    rejected: int = 0
    latency: Counter[int] = field(default_factory=Counter)
    cost_nano: int = 0


class Tally:
    """Feed records with `add`; `to_dict()` is the summary (sorted keys: deterministic)."""

    def __init__(self) -> None:
        self.requests = 0
        self.ok = 0
        self.cost_nano = 0
        self.optimal_cost_nano = 0
        self.outcomes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency: Counter[int] = Counter()
        self.first: float | None = None
        self.last: float | None = None
        self.deps: dict[str, _Dep] = {}
        self.routes: dict[str, _Route] = {}
        self.flags: dict[str, Counter[str]] = {}  # flag -> variant -> requests

    def add(self, r: RequestRecord | dict) -> None:
        """One record: a model, or the dict of its fields as parsed from its line (nested
        attempts and usage as dicts; enums as their strings)."""
        if type(r) is not dict:
            r = r.__dict__  # nested models are read through theirs, below
        self.requests += 1
        started, ended = r["started_at"], r["ended_at"]
        if self.first is None or started < self.first:
            self.first = started
        if self.last is None or ended > self.last:
            self.last = ended
        outcome = r["outcome"]
        self.outcomes[_text(outcome)] += 1
        cost = r["cost_nano"]
        self.cost_nano += cost
        for name, variant in r["flags"].items():
            c = self.flags.get(name)
            if c is None:
                c = self.flags[name] = Counter()
            c[variant] += 1
        rs = self.routes.get(r["route"])
        if rs is None:
            rs = self.routes[r["route"]] = _Route()
        rs.requests += 1
        rs.cost_nano += cost
        attempts = r["attempts"]
        if outcome == _OK:
            self.ok += 1
            rs.ok += 1
            b = bucket_of(r["latency_ms"])
            self.latency[b] += 1
            rs.latency[b] += 1
            if len(attempts) > 1:
                rs.failovers += 1
            optimal = r["optimal_cost_nano"]
            self.optimal_cost_nano += cost if optimal is None else optimal
            if r["deployment"]:
                self._dep(r["deployment"]).served += 1
        else:
            if r["error_kind"] is not None:
                self.errors[_text(r["error_kind"])] += 1
            if outcome == _REJECTED:
                rs.rejected += 1
        for a in attempts:
            if type(a) is not dict:
                a = a.__dict__
            ds = self._dep(a["deployment"])
            ds.attempts += 1
            ds.cost_nano += a["cost_nano"]
            u = a["usage"]
            if u is not None:
                if type(u) is not dict:
                    u = u.__dict__
                ds.prompt_tokens += u["prompt_tokens"]
                ds.completion_tokens += u["completion_tokens"]
            kind = a["error_kind"]
            if kind is None:
                ds.ok += 1
                ds.latency[bucket_of(a["latency_ms"])] += 1
            else:
                ds.errors[_text(kind)] += 1

    def _dep(self, name: str) -> _Dep:
        ds = self.deps.get(name)
        if ds is None:
            ds = self.deps[name] = _Dep()
        return ds

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
            "served": d.served, "errors": dict(sorted(d.errors.items())),
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
            "outcomes": dict(sorted(self.outcomes.items())),
            "errors": dict(sorted(self.errors.items())),
            "p50_ms": _q(self.latency, 0.5), "p95_ms": self.p95_ms,
            "cost_nano": self.cost_nano, "optimal_cost_nano": self.optimal_cost_nano,
            "split": split,
            "flags": {name: dict(sorted(c.items())) for name, c in sorted(self.flags.items())},
            "duration_s": round(self.last - self.first, 3) if self.first is not None
            and self.last is not None else 0.0,
            "deployments": deployments, "routes": routes,
        }
