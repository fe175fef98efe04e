"""What a drill found, for an on-call engineer: client-seen success and latency over time,
how long each fault took to open a breaker and fire an alert, failovers, upstream calls per
second, records lost, and each of the scenario's targets against its measured figure.

Pure functions over what the orchestrator collected; every time is in seconds after the
load started (the sim's scenario clock is restarted at the same moment)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from axtui.drill.load import LoadResult, Outcome

BUCKET_S = 5.0
SECTIONS = ("scenario", "load", "success", "latency", "timeline", "faults", "failovers",
            "upstream", "records", "refusals", "targets")


@dataclass(frozen=True, slots=True)
class FaultWindow:
    upstream: str
    kind: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: str
    outcome: str
    status: int
    attempts: int
    serving_latency_ms: float | None  # the serving attempt's own latency (the upstream's)


@dataclass(slots=True)
class Observed:
    """What the orchestrator read besides the client's outcomes."""

    records: dict[str, StoredRecord] = field(default_factory=dict)
    breaker_opens: list[tuple[float, str]] = field(default_factory=list)  # (t, deployment)
    alert_firings: list[tuple[float, str, str | None]] = field(default_factory=list)
    # calls each upstream received per second of the scenario clock, which started
    # `upstream_offset_s` after the load did
    upstream_by_second: dict[str, dict[int, int]] = field(default_factory=dict)
    upstream_offset_s: float = 0.0
    upstream_error: str | None = None  # why the counts could not be read
    gateway_exit: int | None = None
    killed_at_s: float | None = None  # when the drill SIGKILLed the gateway (--kill-at)
    leftover_processes: int = 0  # the gateway's children still running after the wait
    baseline: LoadResult | None = None  # the same load straight to the sim (--baseline)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile (p99 of 100 values is the 99th): no interpolation between
    requests that never happened."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def _lat(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50_ms": _r(quantile(values, 0.5)), "p95_ms": _r(quantile(values, 0.95)),
            "p99_ms": _r(quantile(values, 0.99))}


def _r(v: float | None, nd: int = 1) -> float | None:
    return None if v is None else round(v, nd) + 0.0  # + 0.0: no "-0.0"


def _ratio(n: int, d: int) -> float | None:
    return None if d == 0 else n / d


def _success(outs: Sequence[Outcome]) -> dict[str, Any]:
    def part(xs: list[Outcome]) -> dict[str, Any]:
        ok = sum(o.ok for o in xs)
        return {"requests": len(xs), "ok": ok, "ratio": _ratio(ok, len(xs))}

    errors: dict[str, int] = {}
    for o in outs:
        if not o.ok:
            key = f"{o.status or 'no answer'} {o.error or ''}".strip()
            errors[key] = errors.get(key, 0) + 1
    return {**part(list(outs)), "plain": part([o for o in outs if not o.stream]),
            "stream": part([o for o in outs if o.stream]),
            "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1]))}


def _calls_per_s(obs: Observed) -> list[tuple[float, float, dict[str, float]]]:
    """(second's start in load time, calls in it, per upstream), one per second."""
    seconds = sorted({s for per in obs.upstream_by_second.values() for s in per})
    out = []
    for s in seconds:
        per = {u: float(c.get(s, 0)) for u, c in obs.upstream_by_second.items()}
        out.append((s + obs.upstream_offset_s, sum(per.values()), per))
    return out


def _timeline(outs: Sequence[Outcome], records: dict[str, StoredRecord],
              rates: list[tuple[float, float, dict[str, float]]],
              faults: Sequence[FaultWindow], duration_s: float) -> list[dict[str, Any]]:
    # past the planned duration when requests waited for a slot: each row is what was sent
    last = max((o.sent_s for o in outs), default=0.0)
    n = max(1, math.ceil(duration_s / BUCKET_S), math.floor(last / BUCKET_S) + 1)
    rows = []
    for b in range(n):
        lo, hi = b * BUCKET_S, (b + 1) * BUCKET_S
        xs = [o for o in outs if lo <= o.sent_s < hi]
        ok = [o.latency_ms for o in xs if o.ok]
        fo = sum(1 for o in xs if o.request_id in records and records[o.request_id].attempts > 1)
        calls = [r for t, r, _ in rates if lo <= t + 0.5 < hi]
        active = sorted({f"{f.upstream}:{f.kind}" for f in faults
                         if min(f.end_s, hi) - max(f.start_s, lo) > 0.1})
        rows.append({"t_s": lo, "requests": len(xs), "ok": sum(o.ok for o in xs),
                     "success": _ratio(sum(o.ok for o in xs), len(xs)), **_lat(ok),
                     "failovers": fo,
                     "upstream_calls_per_s": _r(max(calls)) if calls else None,
                     "faults": active})
    return rows


def _first_after(events: Iterable[tuple[float, str]], upstream: str, start: float,
                 end: float) -> float | None:
    ts = [t for t, who in events if who == upstream and start - 0.5 <= t <= end + 30]
    return min(ts) - start if ts else None


def _faults(faults: Sequence[FaultWindow], obs: Observed) -> list[dict[str, Any]]:
    alerts = [(t, dep) for t, _, dep in obs.alert_firings if dep is not None]
    out = []
    for f in faults:
        brk = _first_after(obs.breaker_opens, f.upstream, f.start_s, f.end_s)
        alr = _first_after(alerts, f.upstream, f.start_s, f.end_s)
        rules = sorted({rule for t, rule, dep in obs.alert_firings
                        if dep == f.upstream and alr is not None
                        and abs(t - f.start_s - alr) < 1e-6})
        out.append({"upstream": f.upstream, "kind": f.kind, "start_s": _r(f.start_s, 2),
                    "end_s": _r(f.end_s, 2), "breaker_open_after_s": _r(brk, 2),
                    "alert_firing_after_s": _r(alr, 2), "alert_rules": rules})
    return out


def _latency(outs: Sequence[Outcome], records: dict[str, StoredRecord],
             baseline: LoadResult | None) -> dict[str, Any]:
    """Client-seen latency of ok requests beside the serving upstream's own (its attempt's
    latency in the record), plain and streaming apart: a stream takes its whole answer, so
    one p99 over both would be the streams' alone. The overhead is the larger of the two.
    With a baseline (the same load straight to the sim), the overhead is against it: that
    also counts what the record cannot see (the hop to the gateway, its parsing)."""
    by_kind = {}
    for kind, stream in (("plain", False), ("stream", True)):
        xs = [o for o in outs if o.ok and o.stream == stream]
        client = [o.latency_ms for o in xs]
        serving = [r.serving_latency_ms for o in xs if o.request_id in records
                   for r in [records[o.request_id]] if r.serving_latency_ms is not None]
        c, u = quantile(client, 0.99), quantile(serving, 0.99)
        by_kind[kind] = {"client_p99_ms": _r(c), "upstream_p99_ms": _r(u),
                         "p99_overhead_ms": None if c is None or u is None else _r(c - u)}
    if baseline is not None:
        for kind, stream in (("plain", False), ("stream", True)):
            d = quantile([o.latency_ms for o in baseline.outcomes if o.ok and o.stream == stream],
                         0.99)
            c = by_kind[kind]["client_p99_ms"]
            by_kind[kind]["direct_p99_ms"] = _r(d)
            by_kind[kind]["p99_overhead_vs_direct_ms"] = (None if c is None or d is None
                                                          else _r(c - d))
    key = "p99_overhead_ms" if baseline is None else "p99_overhead_vs_direct_ms"
    overheads = [k[key] for k in by_kind.values() if k.get(key) is not None]
    out = {"client_ok": _lat([o.latency_ms for o in outs if o.ok]), **by_kind,
           "p99_overhead_ms": max(overheads, default=None),
           "overhead_against": "upstream" if baseline is None else "direct"}
    if baseline is not None:
        out["baseline"] = {"sent": len(baseline.outcomes),
                           "ok": sum(o.ok for o in baseline.outcomes),
                           "duration_s": baseline.plan.duration_s}
    return out


def _refusals(outs: Sequence[Outcome], refused_status: int | None) -> dict[str, Any]:
    refused = [o for o in outs if not o.ok and o.status is not None and o.status >= 400]
    by_status: dict[str, int] = {}
    for o in refused:
        by_status[str(o.status)] = by_status.get(str(o.status), 0) + 1
    wrong = [o for o in refused if refused_status is not None and o.status != refused_status]
    no_hint = [o for o in refused if o.status == 429 and not o.retry_after]
    return {"refused": len(refused), "by_status": by_status,
            "no_answer": sum(1 for o in outs if not o.ok and o.status is None),
            "wrong_status": len(wrong), "status_429_without_retry_after": len(no_hint),
            "without_reason": sum(1 for o in refused if not o.message),
            "slowest_ms": _r(max((o.latency_ms for o in refused), default=None)),
            "reasons": _top(o.message for o in refused if o.message)}


def _top(items: Iterable[str], n: int = 5) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in items:
        counts[s] = counts.get(s, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:n])


def build_report(*, scenario: dict[str, Any], load: LoadResult, obs: Observed,
                 faults: Sequence[FaultWindow], targets: dict[str, Any]) -> dict[str, Any]:
    """The whole report as JSON-ready data; `targets` are the scenario's [targets] set."""
    outs = load.outcomes
    plan = load.plan
    answered = {o.request_id for o in outs if o.request_id}
    finished = {o.request_id for o in outs if o.request_id and o.finished}
    lost = sorted(finished - set(obs.records))
    broken_off = sorted(answered - finished - set(obs.records))
    unanswered_ids = sum(1 for o in outs if o.status is not None and not o.request_id)
    rates = _calls_per_s(obs)
    per_upstream: dict[str, float] = {}
    for _, _, per in rates:
        for u, v in per.items():
            per_upstream[u] = max(per_upstream.get(u, 0.0), v)
    total_calls = (sum(n for per in obs.upstream_by_second.values() for n in per.values())
                   if obs.upstream_by_second else None)
    recs = [obs.records[i] for i in answered if i in obs.records]
    failovers = sum(1 for r in recs if r.attempts > 1)
    report: dict[str, Any] = {
        "scenario": scenario,
        "load": {"rps": plan.rps, "concurrency": plan.concurrency,
                 "stream_share": plan.stream_share, "duration_s": plan.duration_s,
                 "seed": plan.seed, "sent": len(outs), "late": load.late,
                 "unexpected_errors": load.unexpected},
        "success": _success(outs),
        "latency": _latency(outs, obs.records, obs.baseline),
        "timeline": _timeline(outs, obs.records, rates, faults, plan.duration_s),
        "faults": _faults(faults, obs),
        "failovers": {"requests": failovers, "share": _ratio(failovers, len(recs)),
                      "attempts": sum(r.attempts for r in recs)},
        "upstream": {"calls": total_calls,
                     "peak_calls_per_s": _r(max((r for _, r, _ in rates), default=None)),
                     "peak_calls_per_s_by_upstream": {u: _r(v) for u, v in
                                                      sorted(per_upstream.items())},
                     "unread": obs.upstream_error},
        "records": {"answered": len(answered), "stored": len(obs.records),
                    "lost": len(lost), "lost_ids": lost[:20],
                    "broken_off_without_record": len(broken_off),
                    "answers_without_request_id": unanswered_ids,
                    "gateway_exit": obs.gateway_exit, "gateway_killed_at_s": _r(obs.killed_at_s, 2),
                    "gateway_leftover_processes": obs.leftover_processes},
        "refusals": _refusals(outs, targets.get("refused_status")),
    }
    report["targets"] = check_targets(report, targets, killed=obs.killed_at_s is not None)
    report["verdict"] = ("pass" if all(t["met"] is not False for t in report["targets"])
                         else "fail")
    return report


def check_targets(report: dict[str, Any], targets: dict[str, Any], *, killed: bool = False
                  ) -> list[dict[str, Any]]:
    """Each target beside its measured figure; `met` None when the drill could not measure
    it, or judges only records after killing the gateway (shown as `??`, not a miss)."""
    out = []
    for name, want in targets.items():
        if want is None:
            continue
        measured, met = _measure(name, want, report)
        if killed and name != "max_records_lost":
            met = None  # a killed gateway refuses everything after: only records count
        out.append({"target": name, "want": want, "measured": measured, "met": met})
    return out


def _measure(name: str, want: Any, rep: dict[str, Any]) -> tuple[Any, bool | None]:
    if name == "min_success":
        v = rep["success"]["ratio"]
        return v, None if v is None else v >= want
    if name == "max_p99_overhead_ms":
        v = rep["latency"]["p99_overhead_ms"]
        return v, None if v is None else v <= want
    if name == "max_records_lost":
        v = rep["records"]["lost"] + rep["records"]["answers_without_request_id"]
        return v, v <= want
    if name == "refused_status":
        r = rep["refusals"]
        v = {"wrong_status": r["wrong_status"], "no_answer": r["no_answer"],
             "without_reason": r["without_reason"]}
        bad = r["wrong_status"] + r["no_answer"] + r["without_reason"]
        if want == 429:
            v["without_retry_after"] = r["status_429_without_retry_after"]
            bad += r["status_429_without_retry_after"]
        return v, bad == 0
    if name == "max_refusal_ms":
        v = rep["refusals"]["slowest_ms"]
        return v, v is None or v <= want  # no refusal at all meets it
    if name == "max_upstream_calls_per_s":
        v = rep["upstream"]["peak_calls_per_s"]
        return v, None if v is None else v <= want
    return "not measured by this drill", None


# --------------------------------------------------------------------------- text


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _figure(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_figure(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def render(rep: dict[str, Any]) -> str:
    """The report as an on-call engineer reads it: a few lines, then the 5 s table."""
    from axtui.cli.output import table

    sc, ld, su, la = rep["scenario"], rep["load"], rep["success"], rep["latency"]
    lines = [f"drill: {sc['name']} ({sc.get('path', '')})"
             + (f" · route strategy {sc['route_strategy']}" if sc.get("route_strategy") else "")
             + (f" · alerts every {sc['alert_interval_s']:g}s" if sc.get("alert_interval_s")
                else ""),
             f"load: {ld['sent']} requests at {ld['rps']:g}/s for {ld['duration_s']:g}s, "
             f"c={ld['concurrency']}, {ld['stream_share'] * 100:.0f}% streaming, "
             f"seed {ld['seed']}" + (f", {ld['late']} started late" if ld["late"] else ""),
             f"success: {_pct(su['ratio'])} ({su['ok']}/{su['requests']}) · plain "
             f"{_pct(su['plain']['ratio'])} · stream {_pct(su['stream']['ratio'])}"]
    if su["errors"]:
        lines.append("errors: " + ", ".join(f"{k} ×{n}" for k, n in su["errors"].items()))
    c = la["client_ok"]
    lines.append(f"latency (ok, ms): client p50 {_ms(c['p50_ms'])} p95 {_ms(c['p95_ms'])} "
                 f"p99 {_ms(c['p99_ms'])}")
    for kind in ("plain", "stream"):
        k = la[kind]
        if k["client_p99_ms"] is not None:
            lines.append(f"  {kind}: p99 {_ms(k['client_p99_ms'])} against the upstream's "
                         f"{_ms(k['upstream_p99_ms'])}: overhead "
                         f"{_figure(k['p99_overhead_ms'])} ms"
                         + (f"; straight to the sim {_ms(k['direct_p99_ms'])}: overhead "
                            f"{_figure(k['p99_overhead_vs_direct_ms'])} ms"
                            if "direct_p99_ms" in k else ""))
    if la["p99_overhead_ms"] is not None and la["p99_overhead_ms"] < 0:
        lines.append("  (a negative overhead: this machine's noise is larger than the gateway's "
                     "cost; run longer or on a quieter machine)")
    rows = [[f"{r['t_s']:.0f}s", r["requests"], _pct(r["success"]), _ms(r["p50_ms"]),
             _ms(r["p95_ms"]), _ms(r["p99_ms"]), r["failovers"],
             "-" if r["upstream_calls_per_s"] is None else f"{r['upstream_calls_per_s']:g}",
             " ".join(r["faults"])] for r in rep["timeline"]]
    lines += ["", table(rows, ["t", "sent", "ok", "p50", "p95", "p99", "failover",
                               "up/s", "faults"], right={1, 2, 3, 4, 5, 6, 7}), ""]
    for f in rep["faults"]:
        b, a = f["breaker_open_after_s"], f["alert_firing_after_s"]
        lines.append(f"fault {f['upstream']} {f['kind']} {f['start_s']:.1f}-{f['end_s']:.1f}s: "
                     f"breaker open after {'never' if b is None else f'{b:g}s'}, alert "
                     f"firing after {'never' if a is None else f'{a:g}s'}"
                     + (f" ({', '.join(f['alert_rules'])})" if f["alert_rules"] else ""))
    fo, up, rc, rf = rep["failovers"], rep["upstream"], rep["records"], rep["refusals"]
    lines.append(f"failovers: {fo['requests']} requests ({_pct(fo['share'])}), "
                 f"{fo['attempts']} attempts in all")
    by = ", ".join(f"{k} {v:g}" for k, v in up["peak_calls_per_s_by_upstream"].items())
    lines.append(f"upstream: {up['calls'] if up['calls'] is not None else '-'} calls, peak "
                 f"{up['peak_calls_per_s'] if up['peak_calls_per_s'] is not None else '-'}/s"
                 + (f" ({by})" if by else ""))
    if rf["refused"] or rf["no_answer"]:
        parts = [f"{k} ×{n}" for k, n in rf["by_status"].items()]
        parts += [f"no answer ×{rf['no_answer']}"] if rf["no_answer"] else []
        lines.append("refused: " + ", ".join(parts)
                     + (f"; slowest {_ms(rf['slowest_ms'])} ms" if rf["refused"] else ""))
        for reason, n in rf["reasons"].items():
            lines.append(f"  ×{n} {reason}")
    lines.append(f"records: {rc['answered']} answered, {rc['stored']} stored, {rc['lost']} "
                 f"lost" + (f" (e.g. {', '.join(rc['lost_ids'][:3])})" if rc["lost"] else ""))
    if rc["gateway_killed_at_s"] is not None:
        lines.append(f"gateway: SIGKILLed {rc['gateway_killed_at_s']:g}s into the load; "
                     f"{rc['broken_off_without_record']} answers broken off without a record")
    elif rc["gateway_exit"] != 0:
        lines.append("gateway: " + ("killed after its grace period" if rc["gateway_exit"] is None
                                    else f"exited {rc['gateway_exit']}") + " on SIGTERM")
    if rc["gateway_leftover_processes"]:
        lines.append(f"gateway: {rc['gateway_leftover_processes']} child processes were still "
                     "running after the wait (killed)")
    if up["unread"]:
        lines.append(f"upstream call counts not read: {up['unread']}")
    lines.append("")
    for t in rep["targets"]:
        mark = {True: "ok  ", False: "MISS", None: "??  "}[t["met"]]
        lines.append(f"{mark} {t['target']} = {_figure(t['want'])}: measured "
                     f"{_figure(t['measured'])}")
    lines.append(f"verdict: {rep['verdict']}")
    return "\n".join(lines)
