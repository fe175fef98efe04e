"""Summaries of a list of records (a demo run, a replayed trace): per deployment counting
attempts, per route counting requests, with exact costs and savings against the optimum."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from axtui.quantiles import percentile
from axtui.records import Outcome, RequestRecord


@dataclass
class DeploymentSummary:
    deployment: str
    attempts: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nano: int = 0

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.attempts if self.attempts else None


@dataclass
class RouteSummary:
    route: str
    requests: int = 0
    ok: int = 0
    failovers: int = 0  # served after at least one failed attempt
    rejected: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    cost_nano: int = 0
    optimal_cost_nano: int = 0


@dataclass
class RunSummary:
    requests: int
    ok: int
    outcomes: dict[str, int]
    errors: dict[str, int]
    cost_nano: int
    optimal_cost_nano: int
    deployments: list[DeploymentSummary]
    routes: list[RouteSummary]
    duration_s: float

    def to_dict(self) -> dict:
        d = asdict(self)
        for row, src in zip(d["deployments"], self.deployments, strict=True):
            row["success_rate"] = src.success_rate
        return d


def summarize(records: Iterable[RequestRecord]) -> RunSummary:
    deps: dict[str, DeploymentSummary] = {}
    dep_lat: dict[str, list[float]] = defaultdict(list)
    routes: dict[str, RouteSummary] = {}
    route_lat: dict[str, list[float]] = defaultdict(list)
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    n = ok = cost = optimal = 0
    first = last = None
    for r in records:
        n += 1
        first = r.started_at if first is None else min(first, r.started_at)
        last = r.ended_at if last is None else max(last, r.ended_at)
        outcomes[r.outcome.value] += 1
        if r.error_kind:
            errors[r.error_kind.value] += 1
        rs = routes.setdefault(r.route, RouteSummary(r.route))
        rs.requests += 1
        cost += r.cost_nano
        rs.cost_nano += r.cost_nano
        if r.outcome is Outcome.ok:
            ok += 1
            rs.ok += 1
            route_lat[r.route].append(r.latency_ms)
            if len(r.attempts) > 1:
                rs.failovers += 1
            opt = r.optimal_cost_nano if r.optimal_cost_nano is not None else r.cost_nano
            optimal += opt
            rs.optimal_cost_nano += opt
        elif r.outcome is Outcome.rejected:
            rs.rejected += 1
        for a in r.attempts:
            ds = deps.setdefault(a.deployment, DeploymentSummary(a.deployment))
            ds.attempts += 1
            ds.cost_nano += a.cost_nano
            if a.usage:
                ds.prompt_tokens += a.usage.prompt_tokens
                ds.completion_tokens += a.usage.completion_tokens
            if a.error_kind is None:
                ds.ok += 1
                dep_lat[a.deployment].append(a.latency_ms)
            else:
                ds.errors[a.error_kind.value] = ds.errors.get(a.error_kind.value, 0) + 1
    for name, ds in deps.items():
        lat = sorted(dep_lat[name])
        ds.p50_ms, ds.p95_ms = percentile(lat, 0.5), percentile(lat, 0.95)
    for name, rs in routes.items():
        lat = sorted(route_lat[name])
        rs.p50_ms, rs.p95_ms = percentile(lat, 0.5), percentile(lat, 0.95)
    return RunSummary(
        requests=n, ok=ok, outcomes=dict(outcomes), errors=dict(errors), cost_nano=cost,
        optimal_cost_nano=optimal,
        deployments=sorted(deps.values(), key=lambda d: -d.attempts),
        routes=sorted(routes.values(), key=lambda r: -r.requests),
        duration_s=(last - first) if n else 0.0,
    )
