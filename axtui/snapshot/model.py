"""The Snapshot's types: a deep-immutable view of everything the on-call engineer looks at.

One `Snapshot` is read from the store in one transaction (axtui/snapshot.py builds it); the
console, `axtui monitor status` and `/metrics` render it and never query the store themselves.
Every container is a tuple and every model frozen, so a renderer can hold one across frames
and compare it with the next without copying.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from axtui.alerts.state import (
    AlertAckEvent,
    AlertNotifyFailedEvent,
    AlertRuleEvent,
    AlertSilenceEvent,
    AlertTransitionEvent,
)
from axtui.snapshot.events import (
    BreakerEvent,
    BudgetThresholdEvent,
    ConfigReloadEvent,
    DrainEvent,
    FlagEvent,
    KeyEvent,
)
from axtui.store.process_status import ControlSyncLive

DeploymentState = Literal["ok", "degraded", "limited", "half_open", "open", "drained", "idle"]
FlagStatus = Literal["on", "off", "killed", "disabled"]
GateVerdict = Literal["go", "no-go", "inconclusive", "none"]
AlertState = Literal["inactive", "pending", "firing", "resolved", "nodata"]
Severity = Literal["info", "warning", "critical"]

# the glyph and the word of each state: never colour alone
DEPLOYMENT_GLYPHS: dict[str, str] = {
    "ok": "●", "degraded": "◒", "limited": "◔", "half_open": "◐", "open": "○", "drained": "⊘",
    "idle": "·",
}
DEPLOYMENT_WORDS: dict[str, str] = {
    "ok": "ok", "degraded": "degraded", "limited": "limited", "half_open": "half-open",
    "open": "OPEN",
    "drained": "DRAINED", "idle": "idle",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Pulse(_Frozen):
    """The header: is anything on fire, and how fresh is this."""

    window_s: float  # the window the rates and percentiles cover
    requests: int
    request_rate: float  # requests per second over the window
    success_rate: float | None  # None: no requests in the window
    p95_ms: float | None
    spend_per_hour_nano: int  # over the window, scaled to an hour
    budget_used: float | None  # the most used budget's fraction (1.0 = spent); None: no budget
    budget_name: str | None
    firing_alerts: int
    pending_alerts: int
    last_record_at: float | None  # newest record's end (wall clock, or virtual)
    data_age_s: float | None  # taken_at - the newest of (last record, a live process heartbeat)


class ErrorCount(_Frozen):
    kind: str
    n: int


class DeploymentView(_Frozen):
    name: str
    provider: str
    model: str
    routes: tuple[str, ...]  # routes that list it as a candidate
    state: DeploymentState
    breaker: str | None  # closed / open / half_open as the engines report it; None: unknown
    open_until: float | None
    limited_until: float | None  # a 429's cooldown: skipped for headroom, not broken
    drained_reason: str | None
    drained_by: str | None
    drained_at: float | None
    attempts: int  # over the pulse window
    rpm: float
    ok_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    ttft_ms: float | None
    headroom: float | None  # fraction of the tightest limit left (1.0: untouched); None: unknown
    in_flight: int | None
    cost_per_hour_nano: int
    share_of_traffic: float  # this deployment's share of the window's attempts
    rate_series: tuple[int, ...]  # attempts per minute, oldest first, for a sparkline
    errors: tuple[ErrorCount, ...]
    ratings: int = 0  # callers' ratings of its requests over the ratings window (an hour)
    mean_rating: float | None = None  # on the [feedback] scale; None: none rated
    region: str | None = None  # where it serves, from the config
    free_tier: bool = False  # on a vendor's free tier, from the config


class RouteView(_Frozen):
    name: str
    strategy: str
    candidates: tuple[str, ...]
    fallbacks: tuple[str, ...]
    requests: int
    rpm: float
    success_rate: float | None
    p95_ms: float | None
    cost_per_hour_nano: int
    failovers: int
    cache_hits: int = 0  # requests the response cache answered, over the window
    cache_hit_rate: float | None = None  # of the route's requests; None: no cache or traffic


class GateCheck(_Frozen):
    name: str
    ok: bool | None  # None: not enough data
    observed: float | None
    limit: float | None
    detail: str


class FlagView(_Frozen):
    name: str
    kind: str  # capability / split / force
    target: str  # what it steers: the route and deployment it touches
    status: FlagStatus
    pct: float  # the applied percentage
    effective_pct: float  # what routing uses (0 when killed or disabled)
    ladder: tuple[float, ...]
    next_step: float | None
    step_limit: float  # the largest percentage one increase may reach now
    dwell_left_s: float  # until the next increase is allowed (0: now)
    verdict: GateVerdict
    verdict_reason: str
    checks: tuple[GateCheck, ...]
    cohort_n: int
    baseline_n: int
    killed_at: float | None
    killed_by: str | None
    kill_reason: str | None
    updated_at: float
    updated_by: str
    version: int  # the control entry's version: a change made from this view passes it on
    cohort_ratings: int = 0  # callers' ratings of each side since the flag's last change
    cohort_rating: float | None = None  # mean, on the [feedback] scale
    baseline_ratings: int = 0
    baseline_rating: float | None = None


class AlertView(_Frozen):
    name: str
    severity: Severity
    state: AlertState
    metric: str
    scope: str
    op: str
    threshold: float
    value: float | None
    since: float | None  # when it entered its state
    for_s: float
    summary: str
    runbook: str | None
    acked_by: str | None
    acked_at: float | None
    silenced_until: float | None
    silenced_by: str | None


class SpendPoint(_Frozen):
    ts: float
    nano: int


class ProviderSpend(_Frozen):
    provider: str
    points: tuple[SpendPoint, ...]  # spend per step, oldest first


class FreeTierToday(_Frozen):
    """Today's answers served on free-tier deployments, and their list price (not paid)."""

    served: int = 0
    free: int = 0
    share: float | None = None  # free / served; None: nothing served yet
    avoided_nano: int = 0


class Spend(_Frozen):
    step_s: float
    since: float
    until: float
    by_provider: tuple[ProviderSpend, ...]
    budget_per_hour_nano: int | None  # the tightest day budget spread over 24 h
    today_nano: int
    projected_day_nano: int | None
    free_tier: FreeTierToday = FreeTierToday()  # answers on free tiers today (UTC)


EventDetail = (BreakerEvent | BudgetThresholdEvent | ConfigReloadEvent | DrainEvent | FlagEvent
               | KeyEvent
               | AlertTransitionEvent | AlertAckEvent | AlertSilenceEvent
               | AlertNotifyFailedEvent | AlertRuleEvent)


class EventView(_Frozen):
    id: int
    ts: float
    kind: str  # drain, undrain, breaker, budget_threshold, flag, alert.firing, ...
    subject: str
    summary: str  # one line a person reads
    detail: EventDetail | None = None  # what it says, typed by kind (snapshot/events.py)


class ProcessView(_Frozen):
    """A process (gateway, console, demo) writing this store, from its heartbeat."""

    id: str
    face: str
    host: str
    pid: int
    updated_at: float
    age_s: float
    stale: bool
    in_flight: int
    records_written: int | None  # None: this process records nothing
    records_dropped: int | None  # never silently: the console shows any drop
    records_queued: int | None
    started_at: float | None = None  # wall time (None: written by an older axtui)
    control_sync: ControlSyncLive | None = None  # notify or polling (None: an older axtui)


class Fleet(_Frozen):
    """The gateway processes (`axtui serve`, one per worker) writing this store."""

    reporting: int = 0  # heartbeats fresher than STALE_AFTER_S
    silent: int = 0  # older ones: hung, or gone without stopping (a machine lost)
    since: float | None = None  # wall time the newest reporting one started: this size since


def fleet_of(processes: tuple[ProcessView, ...] | list[ProcessView]) -> Fleet:
    gateways = [p for p in processes if p.face == "serve"]
    fresh = [p for p in gateways if not p.stale]
    starts = [p.started_at for p in fresh if p.started_at is not None]
    return Fleet(reporting=len(fresh), silent=len(gateways) - len(fresh),
                 since=max(starts) if starts else None)


class Snapshot(_Frozen):
    taken_at: float
    store_url: str
    control_version: int
    tail_cursor: int  # the live tail's position: records after it are new
    pulse: Pulse
    deployments: tuple[DeploymentView, ...]
    routes: tuple[RouteView, ...]
    flags: tuple[FlagView, ...]
    alerts: tuple[AlertView, ...]
    spend: Spend
    events: tuple[EventView, ...]  # newest first
    processes: tuple[ProcessView, ...]
    problems: tuple[str, ...]  # parts that could not be read, each one line
    fleet: Fleet = Fleet()  # the gateways among `processes`, counted

    def deployment(self, name: str) -> DeploymentView | None:
        return next((d for d in self.deployments if d.name == name), None)

    def flag(self, name: str) -> FlagView | None:
        return next((f for f in self.flags if f.name == name), None)

    def alert(self, name: str) -> AlertView | None:
        return next((a for a in self.alerts if a.name == name), None)
