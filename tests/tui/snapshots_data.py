"""Hand-made Snapshots for console tests: the demo's deployments in every state (ok,
half-open, OPEN, DRAINED), alerts firing, pending and resolved, flags at 10%, 5% and killed,
and spend series per provider. `make_snapshot(**changes)` varies one thing at a time."""

from __future__ import annotations

from axtui.snapshot.model import (
    AlertView,
    DeploymentView,
    ErrorCount,
    EventView,
    FlagView,
    GateCheck,
    ProviderSpend,
    Pulse,
    RouteView,
    Snapshot,
    Spend,
    SpendPoint,
)
from axtui.tui.feed import Frame

T0 = 1_780_000_000.0  # a fixed "now" (2026-05-28): snapshots never read the real clock
NANO = 1_000_000_000


def deployment(name: str, state: str = "ok", *, rpm: float = 120.0, ok: float | None = 0.998,
               p50: float | None = 410.0, p95: float | None = 1200.0, ttft: float | None = 300.0,
               headroom: float | None = 0.8, cost_h: float = 0.2, reason: str | None = None,
               series: tuple[int, ...] | None = None) -> DeploymentView:
    provider, model = name.split("/", 1)
    attempts = int(rpm * 5)
    return DeploymentView(
        name=name, provider=provider, model=model, routes=("chat",), state=state,
        breaker={"open": "open", "half_open": "half_open"}.get(state, "closed"),
        open_until=T0 + 20 if state == "open" else None, limited_until=None,
        drained_reason=reason, drained_by="oncall" if reason else None,
        drained_at=T0 - 600 if reason else None,
        attempts=attempts, rpm=rpm, ok_rate=ok if attempts else None,
        p50_ms=p50 if attempts else None, p95_ms=p95 if attempts else None,
        ttft_ms=ttft if attempts else None, headroom=headroom, in_flight=2,
        cost_per_hour_nano=int(cost_h * NANO), share_of_traffic=0.0,
        rate_series=series if series is not None else tuple(int(rpm * (0.8 + (i % 5) / 10))
                                                             for i in range(15)),
        errors=(ErrorCount(kind="server", n=3),) if state != "ok" else ())


DEPLOYMENTS = (
    deployment("openai/gpt-4o-mini", rpm=540, cost_h=0.20),
    deployment("gemini/gemini-2.0-flash-lite", "half_open", rpm=24, ok=0.938, p95=2900,
               headroom=0.4, cost_h=0.01),
    deployment("groq/llama-3.1-8b-instant", "open", rpm=0, headroom=0.0, cost_h=0.0,
               series=(30, 28, 31, 12, 2, 0, 0)),
    deployment("mistral/mistral-small-latest", "drained", rpm=0, cost_h=0.0,
               reason="bad output"),
    deployment("anthropic/claude-3-5-haiku-latest", rpm=60, ok=0.991, p50=650, p95=2100,
               cost_h=0.12),
    deployment("anthropic/claude-sonnet-4-5", rpm=12, p50=900, p95=3100, cost_h=0.35),
    deployment("openai/gpt-4o", rpm=8, cost_h=0.18),
    deployment("gemini/gemini-2.5-flash", rpm=10, cost_h=0.04),
)


def alert(name: str, state: str, severity: str = "warning", *, metric: str = "error_rate",
          scope: str = "", value: float | None = 0.062, threshold: float = 0.05,
          since_ago: float = 180.0, acked_by: str | None = None) -> AlertView:
    return AlertView(
        name=name, severity=severity, state=state, metric=metric, scope=scope, op=">",
        threshold=threshold, value=value, since=T0 - since_ago, for_s=120.0,
        summary=f"{metric} of {scope or 'everything'}", runbook="https://runbooks/axtui",
        acked_by=acked_by, acked_at=T0 - 30 if acked_by else None, silenced_until=None,
        silenced_by=None)


ALERTS = (
    alert("error-rate", "firing", "critical", scope="gemini/gemini-2.0-flash-lite"),
    alert("p95-latency", "pending", metric="p95", scope="anthropic/claude-sonnet-4-5",
          value=3100.0, threshold=3000.0, since_ago=60.0),
    alert("budget-80", "resolved", "info", metric="spend_vs_budget", value=41.0, threshold=80.0,
          since_ago=720.0),
    alert("quiet", "inactive", "info"),
)


def flag(name: str, pct: float, status: str = "on", *, verdict: str = "go",
         checks: tuple[GateCheck, ...] = (), killed_by: str | None = None,
         reason: str | None = None, dwell_left_s: float = 2520.0) -> FlagView:
    killed = status == "killed"
    return FlagView(
        name=name, kind="split", target="chat → gemini/gemini-2.0-flash-lite", status=status,
        pct=pct, effective_pct=0.0 if killed else pct, ladder=(1, 5, 10, 25, 50, 100),
        next_step=50.0, step_limit=50.0, dwell_left_s=dwell_left_s, verdict=verdict,
        verdict_reason="errors 3.1% > 1%" if verdict == "no-go" else "",
        checks=checks, cohort_n=8412, baseline_n=91000,
        killed_at=T0 - 300 if killed else None, killed_by=killed_by,
        kill_reason=reason, updated_at=T0 - 600, updated_by="oncall", version=3)


GATES_OK = (GateCheck(name="err", ok=True, observed=0.004, limit=0.01, detail="0.4% ≤ 1%"),
            GateCheck(name="p95", ok=True, observed=1.12, limit=1.2, detail="+12% ≤ +20%"))
FLAGS = (
    flag("gemini_streaming", 10, checks=GATES_OK),
    flag("flash_lite_chat", 5, verdict="no-go",
         checks=(GateCheck(name="err", ok=False, observed=0.031, limit=0.01,
                           detail="3.1% > 1%"),)),
    flag("force_claude", 25, "killed", killed_by="oncall", reason="latency spike"),
)


def spend(hours: int = 24, step_s: float = 300.0) -> Spend:
    n = int(hours * 3600 / step_s)
    base = {"openai": 0.20, "anthropic": 0.47, "gemini": 0.05}
    by_provider = tuple(
        ProviderSpend(provider=p, points=tuple(
            SpendPoint(ts=T0 - (n - i) * step_s,
                       nano=int(rate * NANO * step_s / 3600 * (0.6 + 0.4 * ((i * 7) % 10) / 10)))
            for i in range(n)))
        for p, rate in base.items())
    return Spend(step_s=step_s, since=T0 - n * step_s, until=T0, by_provider=by_provider,
                 budget_per_hour_nano=int(50 * NANO / 24), today_nano=int(9.87 * NANO),
                 projected_day_nano=int(17.2 * NANO))


def make_snapshot(**changes) -> Snapshot:
    pulse = Pulse(window_s=300.0, requests=12_600, request_rate=42.0, success_rate=0.991,
                  p95_ms=1200.0, spend_per_hour_nano=int(0.41 * NANO), budget_used=0.38,
                  budget_name="global/day", firing_alerts=1, pending_alerts=1,
                  last_record_at=T0 - 0.4, data_age_s=0.4)
    base = dict(
        taken_at=T0, store_url="sqlite:///demo.db", control_version=7, tail_cursor=1000,
        pulse=pulse, deployments=DEPLOYMENTS,
        routes=(RouteView(name="chat", strategy="cost", candidates=("openai/gpt-4o-mini",),
                          fallbacks=(), requests=9000, rpm=1800.0, success_rate=0.99,
                          p95_ms=1100.0, cost_per_hour_nano=int(0.3 * NANO), failovers=12),),
        flags=FLAGS, alerts=ALERTS, spend=spend(),
        events=(EventView(id=1, ts=T0 - 60, kind="breaker", subject="groq/llama-3.1-8b-instant",
                          summary="breaker opened: 6 of 10 calls failed"),),
        processes=(), problems=())
    base.update(changes)
    return Snapshot(**base)


def with_state(snap: Snapshot, name: str, state: str) -> Snapshot:
    """The same snapshot with one deployment's state changed (its rank changes with it)."""
    deps = tuple(d.model_copy(update={"state": state}) if d.name == name else d
                 for d in snap.deployments)
    return snap.model_copy(update={"deployments": deps})


def frame(snap: Snapshot | None = None, records=(), fetched_at: float = T0) -> Frame:
    from axtui.tui.tail import record_line

    return Frame(snap or make_snapshot(), tuple(record_line(r) for r in records), 0, fetched_at)
