"""Each SLO's standing now: budget left over its window, burn rates over the workbook's
windows, what burned it in the last hour, and its burn alerts' states (as the evaluator
last wrote them). What `axtui slo` prints and the console shows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from axtui.slo.measure import Counts, budget_left, burn_rate, route_counts
from axtui.slo.model import BURN_WINDOWS, POLICIES, Objective, SloConfig, window_label
from axtui.slo.rules import rule_name, stored_slos

CAUSE_WINDOW_S = 3600.0  # "what burns it": the bad requests of the last hour
TOP_CAUSES = 3


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Cause(_Frozen):
    what: str  # an error kind, or "over 2000ms"
    n: int


class BurnAlert(_Frozen):
    name: str  # slo:ROUTE:OBJECTIVE:POLICY
    policy: str
    severity: str
    state: str  # as the evaluator last wrote it; "inactive" before its first evaluation
    value: float | None


class ObjectiveStatus(_Frozen):
    objective: Objective
    goal: str  # "99.9% succeed", "99% under 2000ms"
    target_pct: float
    requests: int  # counted over the SLO's window
    bad: int
    attained_pct: float | None  # None: no requests
    budget_left: float | None  # share of the budget left: 1.0 untouched, below 0 overspent
    burn: dict[str, float | None]  # window ("5m", ..., "3d") -> burn rate
    causes: list[Cause]  # the last hour's bad requests, biggest first
    alerts: list[BurnAlert]

    @property
    def paging(self) -> bool:
        return any(a.state == "firing" and a.severity == "critical" for a in self.alerts)

    @property
    def firing(self) -> list[BurnAlert]:
        return [a for a in self.alerts if a.state == "firing"]


class SloStatus(_Frozen):
    route: str
    window: str
    window_s: float
    objectives: list[ObjectiveStatus]
    evaluated_at: float

    @property
    def paging(self) -> bool:
        """A page-level burn alert is firing."""
        return any(o.paging for o in self.objectives)

    def to_json(self) -> dict:
        out = self.model_dump(mode="json")
        out["paging"] = self.paging
        return out


def _causes(counts: Counts, objective: Objective, slo: SloConfig) -> list[Cause]:
    if objective == "latency":
        return [Cause(what=f"over {slo.latency_ms:g}ms", n=counts.slow)] if counts.slow else []
    top = sorted(counts.kinds.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CAUSES]
    return [Cause(what=k, n=n) for k, n in top if n > 0]


def slo_status(conn: Connection, route: str, slo: SloConfig, now: float,
               alert_states: Mapping[str, object] | None = None) -> SloStatus:
    """`route`'s standing at `now`; `alert_states` maps alert names to their AlertStatus
    (axtui.alerts.state.read_alert_statuses)."""
    states = alert_states or {}
    lat = slo.latency_ms

    def counts(seconds: float) -> Counts:
        return route_counts(conn, route, now - seconds, now, lat)

    whole = counts(slo.window)
    by_window = {w: counts(w) for w in BURN_WINDOWS}
    recent = by_window.get(CAUSE_WINDOW_S) or counts(CAUSE_WINDOW_S)
    objectives = []
    for objective in slo.objectives():
        n = whole.eligible(objective)
        alerts = []
        for p in POLICIES:
            name = rule_name(route, objective, p)
            a = states.get(name)
            alerts.append(BurnAlert(name=name, policy=p.name, severity=p.severity,
                                    state=getattr(a, "state", "inactive"),
                                    value=getattr(a, "value", None)))
        objectives.append(ObjectiveStatus(
            objective=objective, goal=slo.describe(objective), target_pct=slo.target(objective),
            requests=n, bad=whole.bad(objective),
            attained_pct=None if n <= 0 else 100.0 * (n - whole.bad(objective)) / n,
            budget_left=budget_left(whole, slo, objective),
            burn={window_label(w): burn_rate(c, slo, objective) for w, c in by_window.items()},
            causes=_causes(recent, objective, slo), alerts=alerts))
    return SloStatus(route=route, window=window_label(slo.window), window_s=slo.window,
                     objectives=objectives, evaluated_at=now)


def slo_statuses(store, slos: Mapping[str, SloConfig] | None, now: float,
                 routes: Iterable[str] | None = None) -> list[SloStatus]:
    """Every SLO's standing (or `routes`' only), read through one connection: `slos` (the
    config's) over those the store's burn alerts carry (what the evaluator judged)."""
    with store.connect() as conn:
        states, stored = read_states(conn, now)
        every = {**stored, **(slos or {})}
        names = sorted(every) if routes is None else list(routes)
        return [slo_status(conn, r, every[r], now, states) for r in names]


def read_states(conn: Connection, now: float) -> tuple[dict[str, Any], dict[str, SloConfig]]:
    """The burn alerts' states by name, and the SLOs they carry by route."""
    from axtui.alerts.state import read_alert_statuses

    alerts = [a for a in read_alert_statuses(conn, now) if a.origin == "slo"]
    return {a.name: a for a in alerts}, stored_slos(alerts)


def known_slos(store, slos: Mapping[str, SloConfig], now: float) -> dict[str, SloConfig]:
    """The config's SLOs over the store's."""
    with store.connect() as conn:
        return {**read_states(conn, now)[1], **slos}
