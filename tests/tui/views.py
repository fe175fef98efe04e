"""Snapshots to inject: built from the model types, as the producer would."""

from __future__ import annotations

from axtui.snapshot.model import (
    AlertView,
    DeploymentView,
    ErrorCount,
    FlagView,
    GateCheck,
    Pulse,
    RouteView,
    Snapshot,
    Spend,
)

T0 = 1_800_000_000.0


def deployment(name: str, state: str = "ok", **kw) -> DeploymentView:
    provider, model = name.split("/", 1)
    data = dict(name=name, provider=provider, model=model, routes=("chat", "chat-long"),
                state=state, breaker="closed", open_until=None, limited_until=None,
                drained_reason=None,
                drained_by=None, drained_at=None, attempts=540, rpm=540.0, ok_rate=0.999,
                p50_ms=410.0, p95_ms=1200.0, ttft_ms=180.0, headroom=0.8, in_flight=3,
                cost_per_hour_nano=200_000_000, share_of_traffic=0.62,
                rate_series=(500, 520, 540), errors=(ErrorCount(kind="server", n=2),))
    data.update(kw)
    return DeploymentView(**data)


def flag(name: str, status: str = "on", **kw) -> FlagView:
    data = dict(name=name, kind="split", target="route chat → c/dear", status=status,
                pct=10.0, effective_pct=10.0 if status == "on" else 0.0,
                ladder=(1.0, 5.0, 10.0, 50.0, 100.0), next_step=50.0, step_limit=50.0,
                dwell_left_s=0.0, verdict="go", verdict_reason="all gates pass",
                checks=(GateCheck(name="error_rate", ok=True, observed=0.004, limit=0.01,
                                  detail="cohort error rate"),),
                cohort_n=8412, baseline_n=75000, killed_at=None, killed_by=None,
                kill_reason=None, updated_at=T0 - 600, updated_by="alice", version=3)
    data.update(kw)
    return FlagView(**data)


def alert(name: str, state: str = "firing", severity: str = "critical", **kw) -> AlertView:
    data = dict(name=name, severity=severity, state=state, metric="error_rate",
                scope="deployment:gemini/flash-lite", op=">", threshold=0.05, value=0.062,
                since=T0 - 180, for_s=120.0, summary="error rate of gemini/flash-lite",
                runbook="Check the provider status page; drain if above 10% for 5 min.",
                acked_by=None, acked_at=None, silenced_until=None, silenced_by=None)
    data.update(kw)
    return AlertView(**data)


def snapshot(deployments=(), flags=(), alerts=()) -> Snapshot:
    return Snapshot(
        taken_at=T0, store_url="sqlite:///test.db", control_version=7, tail_cursor=0,
        pulse=Pulse(window_s=60.0, requests=1200, request_rate=20.0, success_rate=0.99,
                    p95_ms=1200.0, spend_per_hour_nano=410_000_000, budget_used=0.38,
                    budget_name="day", firing_alerts=1, pending_alerts=0,
                    last_record_at=T0 - 1, data_age_s=1.0),
        deployments=tuple(deployments),
        routes=(RouteView(name="chat", strategy="cheapest", candidates=("a/cheap", "c/dear"),
                          fallbacks=(), requests=1000, rpm=1000.0, success_rate=0.99,
                          p95_ms=1200.0, cost_per_hour_nano=300_000_000, failovers=4),),
        flags=tuple(flags), alerts=tuple(alerts),
        spend=Spend(step_s=60.0, since=T0 - 3600, until=T0, by_provider=(),
                    budget_per_hour_nano=None, today_nano=0, projected_day_nano=None),
        events=(), processes=(), problems=())
