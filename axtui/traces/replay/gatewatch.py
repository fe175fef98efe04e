"""Flag gates over a faithful replay's timeline, as the live system judges them.

Live, `flags validate --watch` (or `ops.watch_once` from a gateway task) judges each flag's
gates every WATCH_INTERVAL_S (60 s) over the records since its last change, and rolls the
flag back after `rollback_after` no-go verdicts in a row. Here the same verdict
(flags/gates.py `report`) is taken on the virtual clock at that cadence, from sides counted
as the records stream past (flat memory: a latency histogram per side, within 1.93%, and
the distinct users or keys), and each change of verdict, and the rollback the watch would
have made, is a moment of the timeline. The recorded traffic goes on as recorded: after a
would-be rollback the flag is no longer judged (its cohort no longer is what live had)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axtui.flags.evaluate import in_cohort_variant, unit_id
from axtui.flags.gates import GateReport, Side, counts, report
from axtui.flags.model import FlagState
from axtui.flags.ops import WATCH_INTERVAL_S, list_flags, verdict_numbers
from axtui.quantiles import bucket_of, histogram_percentile
from axtui.records import Outcome

_OK = Outcome.ok.value


@dataclass
class _Side:
    requests: int = 0
    errors: int = 0
    cost_nano: int = 0
    latency: dict[int, int] = field(default_factory=dict)  # ok requests' latency buckets
    units: int = 0

    def add(self, r: Any) -> None:
        self.requests += 1
        self.cost_nano += r.cost_nano
        if r.outcome == _OK:
            b = bucket_of(r.latency_ms)
            self.latency[b] = self.latency.get(b, 0) + 1
        else:
            self.errors += 1

    def side(self) -> Side:
        n = self.requests
        return Side(requests=n, errors=self.errors, error_rate=self.errors / n if n else None,
                    p50_ms=histogram_percentile(self.latency, 0.5),
                    p95_ms=histogram_percentile(self.latency, 0.95), cost_nano=self.cost_nano,
                    cost_per_request_nano=self.cost_nano / n if n else None, units=self.units)


@dataclass
class _Flag:
    state: FlagState
    since: float
    cohort: _Side = field(default_factory=_Side)
    baseline: _Side = field(default_factory=_Side)
    unit_side: dict[str, bool] = field(default_factory=dict)  # users or keys seen
    excluded: int = 0
    verdict: str = "inconclusive"  # what a console shows before there is data
    failures: int = 0  # no-go verdicts in a row
    stopped: bool = False  # rolled back: no longer judged

    def add(self, r: Any, variant: str) -> None:
        inside = in_cohort_variant(variant)
        if not (inside or variant == "off") or not counts(r.outcome, r.error_kind):
            self.excluded += 1
            return
        (self.cohort if inside else self.baseline).add(r)
        uid, per_request = unit_id(self.state.definition.stickiness, r.user, r.key_id, r.id)
        if per_request:  # a request is its own unit: counted, never kept
            (self.cohort if inside else self.baseline).units += 1
        elif uid not in self.unit_side:
            self.unit_side[uid] = inside
            (self.cohort if inside else self.baseline).units += 1

    def judge(self, now: float) -> GateReport:
        c, b = self.cohort.side(), self.baseline.side()
        return report(self.state, c, b, c.units + b.units, self.since, now,
                      excluded=self.excluded)


class GateWatch:
    """Feed records with `add`; `tick(now)` at every alert evaluation judges the flags
    when WATCH_INTERVAL_S has passed, appending gate moments to `timeline`."""

    def __init__(self, store, start: float, timeline: list, *,
                 interval_s: float = WATCH_INTERVAL_S) -> None:
        self.flags = {s.name: _Flag(s, start) for s in list_flags(store)}
        self.timeline = timeline
        self.interval_s = interval_s
        self._next = start + interval_s
        self.judged = 0

    def add(self, r: Any) -> None:
        """One record (a model, or its fields as read from its line), read as attributes."""
        for name, variant in r.flags.items():
            f = self.flags.get(name)
            if f is not None:
                f.add(r, variant)

    def tick(self, now: float) -> None:
        if now < self._next:
            return
        while self._next <= now:
            self._next += self.interval_s
        for name, f in self.flags.items():
            if f.stopped or f.state.effective_pct == 0:
                continue  # live: nothing to watch at 0%
            self._judge(name, f, now)

    def _judge(self, name: str, f: _Flag, now: float) -> None:
        from axtui.traces.replay.faithful import Moment

        r = f.judge(now)
        self.judged += 1
        if r.verdict != f.verdict:
            self.timeline.append(Moment(now, "gate", name, f.verdict, r.verdict,
                                        r.reasons[0] if r.reasons else ""))
            f.verdict = r.verdict
        if r.verdict == "go":
            f.failures = 0
        elif r.verdict == "no-go":
            f.failures += 1
        g = f.state.definition.guardrails
        if g.rollback_after is not None and f.failures >= g.rollback_after:
            to = "killed" if g.rollback_to == "kill" else "rolled back"
            self.timeline.append(Moment(
                now, "gate", name, "no-go", to,
                f"gates failed {f.failures} times in a row: `flags validate --watch` would "
                f"have {'killed the flag' if to == 'killed' else 'rolled it back'}"))
            f.stopped = True

    def final(self, now: float) -> dict[str, dict]:
        """Each flag's verdict over the whole trace (the numbers an audit event keeps)."""
        out = {}
        for name, f in sorted(self.flags.items()):
            numbers = verdict_numbers(f.judge(now))
            out[name] = {**numbers, "truncated": False, "watched": f.verdict,
                         "rolled_back": f.stopped}
        return out
