"""A deployment's detail: latency and errors per minute over the last hour, errors by kind,
and its breaker and drain history from the store's events."""

from __future__ import annotations

from rich.text import Text

from axtui.store.rollups import MINUTE_S
from axtui.tui.screens.detail import DetailScreen, clock_time, spark

WINDOW_S = 3600.0


class DeploymentDetail(DetailScreen):
    def heading(self) -> str:
        return f"deployment {self.subject}   (esc back)"

    def read(self) -> Text:
        store = self.context.store
        now = store.clock.now()
        since = now - WINDOW_S
        points = store.minute_series(since, now, deployment=self.subject)
        health = store.deployment_health(since, now).get(self.subject)
        events = [e for e in store.events(subject=self.subject, limit=200)
                  if e.kind in ("breaker", "drain", "undrain")]
        t = Text()
        t.append("last hour, per minute\n", "bold")
        if not points:
            t.append("  no attempts in the last hour\n")
        else:
            first, last = points[0].minute, points[-1].minute
            by_minute = {p.minute: p for p in points}
            minutes = range(first, last + MINUTE_S, MINUTE_S)  # a point is its minute's start
            lat = [by_minute[m].mean_latency_ms if m in by_minute else None for m in minutes]
            errs = [by_minute[m].attempt_errors if m in by_minute else None for m in minutes]
            att = [by_minute[m].attempts if m in by_minute else None for m in minutes]
            t.append(f"  attempts   {spark(att)}  max {max(a or 0 for a in att):,}\n")
            top = max((v for v in lat if v is not None), default=0)
            t.append(f"  latency    {spark(lat)}  max {top:,.0f} ms (mean per minute)\n")
            t.append(f"  errors     {spark(errs)}  total {sum(e or 0 for e in errs):,}\n")
            t.append(f"             {clock_time(first)} → {clock_time(last)} UTC\n")
        t.append("\nerrors by kind\n", "bold")
        if health is None or not health.errors_by_kind:
            t.append("  none\n")
        else:
            for kind, n in sorted(health.errors_by_kind.items(), key=lambda kv: -kv[1]):
                t.append(f"  {kind:16} {n:>8,}\n")
            t.append(f"  of {health.attempts:,} attempts ({health.error_rate:.1%}); "
                     f"p50 {health.p50_ms or 0:,.0f} ms, p95 {health.p95_ms or 0:,.0f} ms\n")
        rated = [r.score for r in store.ratings(since_ts=since, until_ts=now)
                 if r.deployment == self.subject]
        if rated:  # only where callers rate (POST /v1/feedback): most never do
            t.append(f"\ncallers' ratings: mean {sum(rated) / len(rated):.2f} of "
                     f"{len(rated):,} in the last hour\n")
        t.append("\nbreaker and drain history (newest first)\n", "bold")
        if not events:
            t.append("  none recorded\n")
        for e in events[:50]:
            d = e.detail
            if e.kind == "breaker":
                line = f"{d.get('from')} → {d.get('to')}  {d.get('reason') or ''}"
            else:
                line = f"{e.kind} by {d.get('by')}" + (f" ({d['reason']})" if d.get("reason")
                                                       else "")
            t.append(f"  {clock_time(e.ts)}  {line}\n")
        return t
