"""The go/no-go report and audit history of a flag, as text for people (the CLI prints it;
`--json` prints the models themselves)."""

from __future__ import annotations

import time

from axtui.flags.gates import GateReport, Side, fmt
from axtui.flags.guardrails import Step
from axtui.flags.model import FlagState
from axtui.units import ms_plain, pct, pct_points, usd


def when(ts: float | None) -> str:
    return "–" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def status(state: FlagState, env_label: str | None = None) -> str:
    """One word or phrase for a flag's state, with this process's env override shown."""
    if env_label is not None:
        return f"env override {env_label} (store: {_stored(state)})"
    return _stored(state)


def _stored(state: FlagState) -> str:
    if state.killed is not None:
        return "killed"
    if not state.enabled:
        return "disabled"
    return f"{state.pct:g}%"


def render_report(r: GateReport) -> list[str]:
    lines = [
        f"flag {r.flag} at {r.pct:g}%: {r.verdict.upper()}   "
        f"({when(r.since)} → {when(r.until)})",
        "",
        f"{'':16}{'cohort':>14}{'baseline':>14}",
    ]

    def row(label: str, fn) -> str:
        return f"{label:16}{fn(r.cohort):>14}{fn(r.baseline):>14}"

    lines += [
        row("requests", lambda s: f"{s.requests:,}"),
        row("units", lambda s: f"{s.units:,}"),
        row("error rate", lambda s: pct(s.error_rate, 2)),
        row("p50 latency", lambda s: ms_plain(s.p50_ms)),
        row("p95 latency", lambda s: ms_plain(s.p95_ms)),
        row("cost/request", lambda s: usd(s.cost_per_request_nano, 6)),
        row("cost", lambda s: usd(s.cost_nano, 4)),
        *([row("mean rating", rating)] if r.cohort.ratings or r.baseline.ratings else []),
        "",
    ]
    if r.savings_per_request_nano is not None:
        lines.append(f"savings: {usd(r.savings_per_request_nano, 6)} per request, "
                     f"{usd(r.savings_nano, 4)} over the cohort's {r.cohort.requests:,} "
                     f"requests")
    srm = r.sample_ratio
    observed = pct_points(srm.observed_pct, 2)
    p = "not testable yet" if srm.p_value is None else f"p = {srm.p_value:.3g}"
    lines.append(f"split: {observed} of {srm.units:,} units in the cohort, {srm.expected_pct:g}% "
                 f"expected ({p})" + ("  SAMPLE-RATIO MISMATCH" if srm.mismatch else ""))
    lines.append("")
    for c in r.checks:
        mark = {True: "pass", False: "FAIL", None: "n/a "}[c.passed]
        nums = ""
        if c.observed is not None and c.limit is not None:
            nums = f"  ({fmt(c.name, c.observed)} vs {fmt(c.name, c.limit)})"
        lines.append(f"  {mark}  {c.name:24}{c.detail}{nums}")
    if r.excluded:
        lines.append(f"\n{r.excluded} requests excluded (env override or refused for the caller)")
    if r.truncated:
        lines.append("only the newest records of the window were read")
    lines.append("")
    lines += [f"{r.verdict}: {why}" for why in r.reasons]
    return lines


def render_schedule(state: FlagState, steps: list[Step]) -> list[str]:
    if not state.definition.ladder:
        return [f"flag {state.name} has no ladder"]
    lines = [f"flag {state.name}: {_stored(state)} now; ladder "
             + " → ".join(f"{p:g}" for p in state.definition.ladder)]
    if not steps:
        lines.append("at the top of the ladder")
    for s in steps:
        lines.append(f"  {s.pct:>5g}%  {when(s.earliest_at) if s.earliest_at else 'blocked':19}"
                     f"  {s.note}")
    return lines


def rating(s: Side) -> str:
    """A side's mean rating and how many rated it: "0.42 (n=31)", or – when none did."""
    return "–" if s.mean_rating is None else f"{s.mean_rating:.2f} (n={s.ratings})"


def describe_side(s: Side) -> str:
    return (f"{s.requests} requests, errors {pct(s.error_rate, 2)}, p95 {ms_plain(s.p95_ms)}, "
            f"cost/request {usd(s.cost_per_request_nano, 6)}")
