"""Build a `Snapshot` from the store: one read transaction, then plain Python.

`SnapshotBuilder` keeps what is costly and slow-moving between builds: the config's static
views, and each flag's gate verdict (a scan of the cohort's raw records), refreshed at most
every `gate_ttl_s` or when the flag's control version moves. Everything else is read anew
each time, inside one transaction, so the numbers on one screen agree with each other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from axtui.cache.report import WindowHits, window_hits
from axtui.config import Config
from axtui.costs.free_tier import free_deployments, free_tier_share
from axtui.costs.projection import projection
from axtui.engine.budget import period_bounds
from axtui.flags.gates import GateReport, evaluate_gates
from axtui.flags.guardrails import step_limit
from axtui.flags.model import FLAG_PREFIX, FlagState
from axtui.records import NANO_PER_USD
from axtui.snapshot.events import ValidationError, typed_detail
from axtui.snapshot.model import (
    AlertView,
    DeploymentView,
    ErrorCount,
    EventView,
    FlagView,
    FreeTierToday,
    GateCheck,
    ProcessView,
    ProviderSpend,
    Pulse,
    RouteView,
    Snapshot,
    Spend,
    SpendPoint,
    fleet_of,
)
from axtui.store import control, feedback, queries
from axtui.store.control import ControlSnapshot, StoredEvent
from axtui.store.db import Store
from axtui.store.metrics import metric_value
from axtui.store.process_status import read_process_states
from axtui.store.rollups import HOUR_S, MINUTE_S
from axtui.store.tables import EventRow, RequestRow, rollup_table

_U = rollup_table.c

HOUR = 3600.0
DEGRADED_BELOW = 0.95  # an attempt success rate under this shows a deployment as degraded
SPARK_MINUTES = 30
SPEND_STEPS = {3600: 60.0, 86400: 900.0, 7 * 86400: 7200.0}  # range -> step


def spend_step(range_s: float) -> float:
    """The step of the spend chart for a range: ~60-100 points whatever the range."""
    return SPEND_STEPS.get(int(range_s), max(60.0, math.ceil(range_s / 96 / 60) * 60))


@dataclass
class _GateCache:
    version: int
    at: float
    report: GateReport | None


@dataclass
class SnapshotBuilder:
    store: Store
    config: Config
    window_s: float = 300.0
    spend_range_s: float = HOUR
    gate_ttl_s: float = 10.0
    events_limit: int = 50
    ratings_window_s: float = HOUR  # ratings are sparse: a longer window than the pulse's
    _gates: dict[str, _GateCache] = field(default_factory=dict)

    def build(self, now: float | None = None) -> Snapshot:
        now = self.store.clock.now() if now is None else now
        problems: list[str] = []
        with self.store.read() as conn:
            ctl = control.control_snapshot(conn)
            since = now - self.window_s
            health = queries.deployment_health(conn, since, now)
            routes = queries.route_stats(conn, since, now)
            hits = (window_hits(conn, since, now)
                    if any(r.cache is not None for r in self.config.routes.values()) else {})
            p95 = _global_p95(conn, since, now)
            sparks = _sparklines(conn, [d.id for d in self.config.deployments], now)
            breakers = _latest_breakers(conn)
            spend = self._spend(conn, now)
            stored_events = control.events(conn, limit=self.events_limit)
            cursor, last_record_at = _tail(conn)
            span = _span(conn, since, now)
            alerts = self._alerts(conn, now, problems)
            processes = self._processes(conn, now, problems)
            rated = feedback.by_deployment(
                feedback.ratings(conn, now - self.ratings_window_s, now))
        flags = self._flags(ctl, now, problems)
        deployments = self._deployments(ctl, health, sparks, breakers, processes, now, span,
                                        rated)
        pulse = _pulse(span, routes, p95, alerts, spend, last_record_at, processes,
                       now, self.config)
        return Snapshot(
            taken_at=now, store_url=self.store.url, control_version=ctl.version,
            tail_cursor=cursor, pulse=pulse, deployments=deployments,
            routes=self._routes(routes, span, hits), flags=flags, alerts=alerts, spend=spend,
            events=tuple(_event_view(e, problems) for e in stored_events),
            processes=tuple(p for p, _ in processes), problems=tuple(problems),
            fleet=fleet_of([p for p, _ in processes]))

    # ------------------------------------------------------------------ parts

    def _deployments(self, ctl: ControlSnapshot, health: dict[str, queries.DeploymentHealth],
                     sparks: dict[str, tuple[int, ...]], breakers: dict[str, StoredEvent],
                     processes: list[tuple[ProcessView, dict]], now: float, span: float,
                     rated: dict[str, feedback.RatingSummary]) -> tuple[DeploymentView, ...]:
        from axtui.engine.control import drains

        drained = drains(ctl)
        routes_of: dict[str, list[str]] = {}
        for name, route in self.config.routes.items():
            for c in route.candidates:
                routes_of.setdefault(c, []).append(name)
        total_attempts = sum(h.attempts for h in health.values()) or 0
        minutes = span / 60.0
        out = []
        for spec in self.config.deployments:
            name = spec.id
            h = health.get(name)
            live = _merge_live(name, processes)
            breaker, open_until = live.get("breaker"), live.get("open_until")
            limited_until = live.get("cooldown_until")
            if breaker is None and name in breakers:  # no live process: the last transition
                ev = breakers[name]
                breaker, open_until = ev.detail.get("to"), ev.detail.get("until")
                if breaker == "open" and open_until is not None and open_until <= now:
                    breaker = "half_open"  # its open time ran out: the next call is a trial
                elif breaker == "open" and str(ev.detail.get("reason", "")).startswith(
                        "rate limited"):
                    limited_until = open_until
            drain = drained.get(name)
            attempts = h.attempts if h else 0
            ok_rate = h.ok / h.attempts if h and h.attempts else None
            if drain is not None:
                state = "drained"
            elif breaker == "open" and limited_until is not None:
                state = "limited"  # a 429's retry-after: it answers again after the cooldown
            elif breaker == "open":
                state = "open"
            elif breaker == "half_open":
                state = "half_open"
            elif attempts == 0:
                state = "idle"
            elif ok_rate is not None and ok_rate < DEGRADED_BELOW:
                state = "degraded"
            else:
                state = "ok"
            rating = rated.get(name, feedback.RatingSummary(0, None))
            out.append(DeploymentView(
                name=name, provider=spec.provider, model=spec.model,
                routes=tuple(routes_of.get(name, ())), state=state, breaker=breaker,
                open_until=open_until, limited_until=limited_until,
                drained_reason=drain.get("reason") if drain else None,
                drained_by=drain.get("by") if drain else None,
                drained_at=drain.get("at") if drain else None,
                attempts=attempts, rpm=attempts / minutes if minutes else 0.0, ok_rate=ok_rate,
                p50_ms=h.p50_ms if h else None, p95_ms=h.p95_ms if h else None,
                ttft_ms=h.mean_ttft_ms if h else None,
                headroom=live.get("headroom"), in_flight=live.get("in_flight"),
                cost_per_hour_nano=_per_hour(h.cost_nano if h else 0, span),
                share_of_traffic=attempts / total_attempts if total_attempts else 0.0,
                rate_series=sparks.get(name, ()),
                errors=tuple(ErrorCount(kind=k, n=n) for k, n in sorted(
                    (h.errors_by_kind if h else {}).items(), key=lambda kv: -kv[1])),
                ratings=rating.n, mean_rating=rating.mean,
                region=spec.region, free_tier=self.config.is_free_tier(spec)))
        return tuple(out)

    def _routes(self, stats: dict[str, queries.RouteStats], span: float,
                hits: dict[str, WindowHits]) -> tuple[RouteView, ...]:
        minutes = span / 60.0
        out = []
        for name, route in self.config.routes.items():
            s = stats.get(name)
            h = hits.get(name)
            out.append(RouteView(
                name=name, strategy=route.strategy, candidates=tuple(route.candidates),
                fallbacks=tuple(route.fallbacks), requests=s.requests if s else 0,
                rpm=(s.requests if s else 0) / minutes,
                success_rate=s.success_rate if s else None, p95_ms=s.p95_ms if s else None,
                cost_per_hour_nano=_per_hour(s.cost_nano if s else 0, span),
                failovers=max(0, (s.attempts - s.requests)) if s else 0,
                cache_hits=h.hits if h else 0,
                cache_hit_rate=(h.hit_rate if h and route.cache is not None
                                and route.cache.enabled else None)))
        return tuple(out)

    def _flags(self, ctl: ControlSnapshot, now: float, problems: list[str]
               ) -> tuple[FlagView, ...]:
        out = []
        for key in sorted(k for k in ctl.entries if k.startswith(FLAG_PREFIX)):
            entry = ctl.entries[key]
            try:
                state = FlagState.model_validate(entry.value)
            except ValueError as e:
                problems.append(f"flag {key[len(FLAG_PREFIX):]!r} unreadable: "
                                f"{str(e).splitlines()[0]}")
                continue
            report = self._gate(state, entry.version, now, problems)
            out.append(_flag_view(state, entry.version, entry.updated_at, entry.updated_by,
                                  report, now))
        return tuple(out)

    def _gate(self, state: FlagState, version: int, now: float, problems: list[str]
              ) -> GateReport | None:
        if state.effective_pct == 0:
            return None
        cached = self._gates.get(state.name)
        if cached and cached.version == version and now - cached.at < self.gate_ttl_s:
            return cached.report
        try:
            report = evaluate_gates(self.store, state, now)
        except Exception as e:  # one flag's gates must not cost the whole snapshot
            problems.append(f"flag {state.name!r} gates: {type(e).__name__}: {e}")
            report = cached.report if cached else None
        self._gates[state.name] = _GateCache(version, now, report)
        return report

    def _spend(self, conn: Connection, now: float) -> Spend:
        step = spend_step(self.spend_range_s)
        since = math.floor((now - self.spend_range_s) / step) * step
        provider_of = {d.id: d.provider for d in self.config.deployments}
        steps = int(math.ceil((now - since) / step))
        series: dict[str, list[int]] = {}
        for dep, i, nano in _spend_steps(conn, since, now, step):
            p = provider_of.get(dep, dep.split("/", 1)[0])
            row = series.setdefault(p, [0] * steps)
            if 0 <= i < steps:
                row[i] += nano
        day_start, _ = period_bounds(now, "day")
        today = sum(queries.spend(conn, day_start, now, "route").values())
        # the same projection `axtui costs projection` prints: one answer on every face
        projected = projection(conn, "day", now).projected_nano if today else None
        budgets = [b for b in self.config.budgets if b.scope == "global" and b.period == "day"]
        budget_h = (int(min(b.limit_usd for b in budgets) * NANO_PER_USD / 24) if budgets
                    else None)
        f = free_tier_share(conn, day_start, now, free_deployments(self.config))
        free = FreeTierToday(served=f.served, free=f.free, share=f.share,
                             avoided_nano=f.avoided_nano)
        return Spend(step_s=step, since=since, until=now, free_tier=free,
                     by_provider=tuple(
                         ProviderSpend(provider=p, points=tuple(
                             SpendPoint(ts=since + i * step, nano=n) for i, n in enumerate(pts)))
                         for p, pts in sorted(series.items())),
                     budget_per_hour_nano=budget_h, today_nano=today,
                     projected_day_nano=projected)

    def _alerts(self, conn: Connection, now: float, problems: list[str]
                ) -> tuple[AlertView, ...]:
        """What the evaluator (in whichever process hosts it) last wrote, most urgent
        first, with acks and the silences active at `now`."""
        from axtui.alerts.state import read_alert_statuses

        return tuple(
            AlertView(name=a.name, severity=a.severity, state=a.state, metric=a.metric,
                      scope=a.scope, op=a.operator, threshold=a.threshold, value=a.value,
                      since=a.since, for_s=a.for_s, summary=a.summary,
                      runbook=a.runbook or None,
                      acked_by=a.ack.by if a.ack else None,
                      acked_at=a.ack.at if a.ack else None,
                      silenced_until=a.silenced_by.ends_at if a.silenced_by else None,
                      silenced_by=a.silenced_by.by if a.silenced_by else None)
            for a in read_alert_statuses(conn, now))

    def _processes(self, conn: Connection, now: float, problems: list[str]
                   ) -> list[tuple[ProcessView, dict]]:
        """Every host writing this store, from its heartbeat (wall time, whatever `now`
        is: a replay's virtual time must not make a live gateway look stale)."""
        out = []
        for st in read_process_states(conn, time.time()):
            if st.problem:
                problems.append(f"process {st.process_id}: {st.problem}")
            if not st.stale:
                for route, why in st.live.unservable.items():
                    problems.append(f"route {route} can serve nothing "
                                    f"({st.face} {st.process_id}): {why}")
            redis = st.live.redis
            if redis is not None and redis.state == "down" and not st.stale:
                problems.append(f"process {st.process_id}: redis {redis.url} down: counting "
                                f"in this process ({redis.last_error})")
            sync = st.live.control_sync
            if sync is not None and sync.degraded and not st.stale:
                problems.append(f"process {st.process_id}: control plane polling, LISTEN "
                                f"connection down ({sync.last_error})")
            rec = st.live.recorder
            view = ProcessView(
                id=st.process_id, face=st.face, host=st.host, pid=st.pid,
                updated_at=st.updated_at, age_s=st.age_s, stale=st.stale,
                in_flight=st.live.in_flight,
                records_written=rec.written if rec else None,
                records_dropped=rec.dropped if rec else None,
                records_queued=rec.queued if rec else None, started_at=st.started_at,
                control_sync=st.live.control_sync)
            out.append((view, {d.deployment: d.model_dump() for d in st.live.deployments}))
        return out


# ---------------------------------------------------------------------- helpers


def _per_hour(nano: int, window_s: float) -> int:
    return int(nano * HOUR // window_s) if window_s > 0 else 0


def _global_p95(conn: Connection, since: float, until: float) -> float | None:
    return metric_value(conn, "p95", "global", since, until)


def _sparklines(conn: Connection, names: Iterable[str], now: float) -> dict[str, tuple[int, ...]]:
    """Attempts per minute over the last SPARK_MINUTES, per deployment, in one read."""
    first = int((now - SPARK_MINUTES * 60) // 60) * 60
    counts: dict[str, list[int]] = {name: [0] * (SPARK_MINUTES + 1) for name in names}
    q = (select(_U.deployment, _U.period, func.sum(_U.attempts))
         .where(_U.res == MINUTE_S, _U.period >= first, _U.period <= now)
         .group_by(_U.deployment, _U.period))
    for dep, period, n in conn.execute(q):
        row = counts.get(dep)
        i = (int(period) - first) // 60
        if row is not None and 0 <= i <= SPARK_MINUTES:
            row[i] = int(n)
    return {name: tuple(c) for name, c in counts.items()}


def _spend_steps(conn: Connection, since: float, until: float, step: float
                 ) -> Iterable[tuple[str, int, int]]:
    """(deployment, step index, nano-dollars of its attempts) from the coarsest rollups whose
    periods fall whole inside a step: hours when the steps are whole hours, else minutes."""
    res = HOUR_S if step % HOUR_S == 0 and since % HOUR_S == 0 else MINUTE_S
    lo = int(since // res) * res
    index = (_U.period - lo).self_group().op("/")(int(step))  # integer division
    q = (select(_U.deployment, index.label("i"), func.sum(_U.attempt_cost_nano))
         .where(_U.res == res, _U.period >= lo, _U.period < until, _U.deployment != "")
         .group_by(_U.deployment, index))
    for dep, i, nano in conn.execute(q):
        if nano:
            yield dep, int(i), int(nano)


def _latest_breakers(conn: Connection) -> dict[str, StoredEvent]:
    e = EventRow.__table__.c
    newest = (select(func.max(e.id)).where(e.kind == "breaker").group_by(e.subject)
              .scalar_subquery())
    rows = conn.execute(select(EventRow.__table__).where(e.id.in_(newest)))
    return {r.subject: control._event(r) for r in rows}


def _span(conn: Connection, since: float, now: float) -> float:
    """The seconds the window's counts really cover: rollups count whole minutes from the
    one holding `since`, and a store younger than the window has nothing before its first
    record (else rates read low for the first minutes of a run)."""
    r = RequestRow.__table__.c
    first = conn.execute(select(r.started_at).order_by(r.seq).limit(1)).scalar()
    start = math.floor(since / 60) * 60
    if first is not None and first > start:
        start = first
    return max(now - start, 1.0)


def _tail(conn: Connection) -> tuple[int, float | None]:
    r = RequestRow.__table__.c
    row = conn.execute(select(r.seq, r.ended_at).order_by(r.seq.desc()).limit(1)).first()
    return (0, None) if row is None else (int(row.seq), float(row.ended_at))


def _merge_live(name: str, processes: list[tuple[ProcessView, dict]]) -> dict:
    """Every fresh process's view of one deployment: the worst breaker, the least headroom,
    the sum of in-flight attempts."""
    rank = {"closed": 0, "half_open": 1, "open": 2}
    out: dict = {}
    for p, deployments in processes:
        d = deployments.get(name)
        if p.stale or not d:
            continue
        b = d.get("breaker")
        if b is not None and rank.get(b, 0) >= rank.get(out.get("breaker") or "closed", 0):
            out["breaker"], out["open_until"] = b, d.get("open_until")
        if d.get("headroom") is not None:
            out["headroom"] = min(out.get("headroom", 1.0), d["headroom"])
        if d.get("in_flight") is not None:
            out["in_flight"] = out.get("in_flight", 0) + d["in_flight"]
        if d.get("cooldown_until") is not None:
            out["cooldown_until"] = max(out.get("cooldown_until") or 0.0, d["cooldown_until"])
    return out


def _pulse(window_s: float, routes: dict[str, queries.RouteStats], p95: float | None,
           alerts: tuple[AlertView, ...], spend: Spend, last_record_at: float | None,
           processes: list[tuple[ProcessView, dict]], now: float, config: Config) -> Pulse:
    requests = sum(s.requests for s in routes.values())
    ok = sum(s.ok for s in routes.values())
    cost = sum(s.cost_nano for s in routes.values())
    budget_used, budget_name = _budget_use(config, spend)
    heartbeats = [p.updated_at for p, _ in processes if not p.stale]
    newest = max([t for t in (last_record_at, *heartbeats) if t is not None], default=None)
    return Pulse(
        window_s=window_s, requests=requests, request_rate=requests / window_s,
        success_rate=ok / requests if requests else None, p95_ms=p95,
        spend_per_hour_nano=_per_hour(cost, window_s), budget_used=budget_used,
        budget_name=budget_name,
        firing_alerts=sum(1 for a in alerts if a.state == "firing"),
        pending_alerts=sum(1 for a in alerts if a.state == "pending"),
        last_record_at=last_record_at,
        data_age_s=None if newest is None else max(0.0, now - newest))


def _budget_use(config: Config, spend: Spend) -> tuple[float | None, str | None]:
    budgets = [b for b in config.budgets if b.scope == "global" and b.period == "day"]
    if not budgets:
        return None, None
    b = min(budgets, key=lambda b: b.limit_usd)
    limit = int(b.limit_usd * NANO_PER_USD)
    return (spend.today_nano / limit if limit else None), f"{b.scope} {b.period}"


def _flag_view(state: FlagState, version: int, updated_at: float, updated_by: str,
               report: GateReport | None, now: float) -> FlagView:
    d = state.definition
    effect = d.effect
    g = d.guardrails
    if state.killed is not None:
        status = "killed"
    elif not state.enabled:
        status = "disabled"
    elif state.pct > 0:
        status = "on"
    else:
        status = "off"
    target = " ".join(x for x in (
        effect.kind, effect.route and f"route {effect.route}",
        ",".join(x for x in effect.deployments() if x),
        effect.capability and f"+{effect.capability}") if x)
    dwell_left = (0.0 if state.effective_pct == 0
                  else max(0.0, state.last_change_at + g.dwell_s - now))
    checks = tuple(GateCheck(name=c.name, ok=c.passed, observed=c.observed, limit=c.limit,
                             detail=c.detail) for c in (report.checks if report else ()))
    return FlagView(
        name=state.name, kind=effect.kind, target=target, status=status, pct=state.pct,
        effective_pct=state.effective_pct, ladder=tuple(d.ladder), next_step=state.next_step(),
        step_limit=step_limit(state), dwell_left_s=dwell_left,
        verdict=report.verdict if report else "none",
        verdict_reason="; ".join(report.reasons) if report else "",
        checks=checks, cohort_n=report.cohort.requests if report else 0,
        baseline_n=report.baseline.requests if report else 0,
        killed_at=state.killed.at if state.killed else None,
        killed_by=state.killed.by if state.killed else None,
        kill_reason=state.killed.reason if state.killed else None,
        updated_at=updated_at, updated_by=updated_by, version=version,
        cohort_ratings=report.cohort.ratings if report else 0,
        cohort_rating=report.cohort.mean_rating if report else None,
        baseline_ratings=report.baseline.ratings if report else 0,
        baseline_rating=report.baseline.mean_rating if report else None)


def _event_view(e: StoredEvent, problems: list[str]) -> EventView:
    try:
        detail = typed_detail(e.kind, e.detail)
    except ValidationError as exc:  # written by another version: shown, without its type
        detail = None
        problems.append(f"event {e.id} ({e.kind}) unreadable: {exc.error_count()} errors")
    return EventView(id=e.id, ts=e.ts, kind=e.kind, subject=e.subject,
                     summary=event_summary(e.kind, e.subject, e.detail), detail=detail)


def event_summary(kind: str, subject: str, detail: dict) -> str:
    """One line a person reads at 3 a.m."""
    by = f" by {detail['by']}" if detail.get("by") else ""
    if kind == "breaker":
        return f"{subject} breaker {detail.get('from')} → {detail.get('to')}: " \
               f"{detail.get('reason', '')}".rstrip(": ")
    if kind == "drain":
        return f"{subject} drained{by}: {detail.get('reason', '')}"
    if kind == "undrain":
        return f"{subject} undrained{by}"
    if kind == "flag":
        return (f"flag {subject} {detail.get('action')} {detail.get('from')}% → "
                f"{detail.get('to')}%{by}" + (f": {detail['reason']}"
                                              if detail.get("reason") else ""))
    if kind == "budget_threshold":
        return f"budget {subject} ({detail.get('period')}) passed {detail.get('threshold')}%"
    text = detail.get("summary") or detail.get("reason") or ""
    return f"{kind} {subject}" + (f": {text}" if text else "")


def build_snapshot(store: Store, config: Config, now: float | None = None, **kw) -> Snapshot:
    """One snapshot without a builder to keep (the CLI's `monitor status`)."""
    return SnapshotBuilder(store, config, **kw).build(now)


def timed_build(builder: SnapshotBuilder, now: float | None = None) -> tuple[Snapshot, float]:
    t0 = time.perf_counter()
    snap = builder.build(now)
    return snap, time.perf_counter() - t0
