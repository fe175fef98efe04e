"""Faithful replay: the recorded records re-emitted, in order, into a fresh store on a
virtual clock. The store's rollups fill as they did; the alert evaluator runs every
`[alerting] interval_s` of trace time over them; a circuit breaker per deployment is fed
each recorded attempt, so breaker trips (and breaker_open alerts) happen when they did;
each flag's gates are judged every 60 s of trace time, as `flags validate --watch` judges
them live (gatewatch.py), and over the whole trace at the end. Records are read as their
fields (axtui/record_fields.py), never as models, and written by writer.py."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from axtui.clock import VirtualClock
from axtui.config import Config
from axtui.records import ErrorKind
from axtui.traces.replay.gatewatch import GateWatch
from axtui.traces.replay.pace import Pacer
from axtui.traces.replay.tally import Tally

log = logging.getLogger(__name__)
SHOWN = ("pending", "firing", "resolved")
_KIND = {k.value: k for k in ErrorKind}


@dataclass
class Moment:
    """One line of the timeline: an alert, breaker or gate-verdict transition."""

    at: float
    kind: str  # "alert" | "breaker" | "gate"
    subject: str  # the rule's name, the deployment, or the flag
    from_state: str
    to_state: str
    detail: str = ""  # the alert's value, or the breaker's reason
    severity: str | None = None

    def to_dict(self, t0: float) -> dict:
        return {"at_s": round(self.at - t0, 3), "kind": self.kind, "subject": self.subject,
                "from": self.from_state, "to": self.to_state, "detail": self.detail,
                "severity": self.severity}


class AlertTimeline:
    """What a run's timeline says of alerts (a faithful and a counterfactual run alike)."""

    timeline: list[Moment]

    def fired(self) -> list[Moment]:
        return [m for m in self.timeline if m.kind == "alert" and m.to_state == "firing"]

    @property
    def critical_fired(self) -> bool:
        return any(m.severity == "critical" for m in self.fired())

    def alerts_dict(self) -> dict:
        fired = self.fired()
        return {"fired": len(fired), "critical": sum(m.severity == "critical" for m in fired),
                "rules": sorted({m.subject for m in fired})}


@dataclass
class FaithfulRun(AlertTimeline):
    start: float
    end: float
    tally: Tally
    timeline: list[Moment] = field(default_factory=list)
    evaluations: int = 0
    breaker_trips: int = 0
    cooldowns: int = 0
    gates: dict[str, dict] = field(default_factory=dict)



class _Breakers:
    """A breaker per deployment, fed with the recorded attempts; the evaluator's source
    for breaker_open rules."""

    def __init__(self, clock: VirtualClock, config: Config, timeline: list[Moment]) -> None:
        from axtui.engine.health import CircuitBreaker

        self._make = lambda dep: CircuitBreaker(clock, config.breaker, deployment=dep,
                                                on_transition=self._moved)
        self.clock = clock
        self.timeline = timeline
        self.by_dep: dict = {}
        self.trips = 0
        self.cooldowns = 0  # rate-limit cooldowns: counted, kept off the timeline
        self._cooling: set[str] = set()
        self._seen_trips: dict[str, int] = {}

    def _moved(self, dep: str, old: object, new: object, reason: str) -> None:
        b = self.by_dep[dep]
        if str(new) == "open":
            if b.trips == self._seen_trips.get(dep, 0):  # a 429's cooldown, not a trip
                self.cooldowns += 1
                self._cooling.add(dep)
                return
            self._seen_trips[dep] = b.trips
            self.trips += 1
        elif dep in self._cooling:
            self._cooling.discard(dep)
            if str(new) == "closed":
                return
        self.timeline.append(Moment(self.clock.now(), "breaker", dep, str(old), str(new),
                                    reason))

    def feed(self, r: Any) -> None:
        """One record's attempts (its fields, as parsed from its line)."""
        by_dep = self.by_dep
        for a in r.attempts:
            dep = a.deployment
            b = by_dep.get(dep)
            if b is None:
                b = by_dep[dep] = self._make(dep)
            kind = a.error_kind
            # refused when open here (the real engine would not have tried it)
            b.replayed(None if kind is None else _KIND[kind], a.retry_after_s)

    def breaker_open(self, deployment: str) -> bool | None:
        b = self.by_dep.get(deployment)
        return None if b is None else str(b.state) != "closed"


def replay_faithful(records: Iterator[tuple[Any, bytes]], config: Config, *,
                    workdir: str,
                    pacer: Pacer | None = None, store_url: str | None = None,
                    on_record: Callable[[Any], None] | None = None,
                    trace_path: str | None = None, trace_bytes: int | None = None
                    ) -> FaithfulRun:
    """Replay `(record's fields, its JSON line)` pairs (file order, as source.open_fields
    reads them) into a fresh store under `workdir` (or `store_url`). `pacer` holds trace
    time to real time (None: as fast as it goes). `on_record` sees each record as its fields (the counterfactual's fitter and request tape). Records are written by
    writer.py's default writer. `trace_path`, the file `records` come from: unpaced, the
    summary and the gates are then counted by a child reading it (sidecar.py), on the
    other core, up to `trace_bytes` (the length `records` is read to, when it is limited)."""
    from axtui.heap import parked
    from axtui.traces.replay import sidecar, writer  # noqa: F401  (loaded before parking)

    with parked():  # the imports and the config: out of the loop's collections
        return _replay(records, config, workdir=workdir, pacer=pacer, store_url=store_url,
                       on_record=on_record, trace_path=trace_path, trace_bytes=trace_bytes)


def _replay(records: Iterator[tuple[Any, bytes]], config: Config, *, workdir: str,
            pacer: Pacer | None, store_url: str | None,
            on_record: Callable[[Any], None] | None, trace_path: str | None,
            trace_bytes: int | None) -> FaithfulRun:
    from axtui.alerts.evaluator import AlertEvaluator, reads_request_rows
    from axtui.store.db import open_store
    from axtui.traces.replay import sidecar as side
    from axtui.traces.replay.writer import make_writer

    head = next(records, None)
    tally = Tally()
    if head is None:
        return FaithfulRun(0.0, 0.0, tally)
    first = head[0]
    start = first.started_at // 60 * 60
    car = None
    # headless and unpaced only: the child seeds the flags in a store of its own, as a
    # fresh scratch store has them (a console's store may hold flags already)
    if trace_path is not None and pacer is None and store_url is None \
            and side.wanted(trace_path):
        car = side.Sidecar(trace_path, config, config.alerting.interval_s, trace_bytes)
    gate_slots: list[tuple[int, float]] = []  # where each tick's gate moments go
    clock = VirtualClock(start=start)
    timeline: list[Moment] = []
    breakers = _Breakers(clock, config, timeline)
    url = store_url or f"sqlite:///{os.path.join(workdir, 'faithful.db')}"
    try:
        store = open_store(url, clock=clock)
    except BaseException:
        if car is not None:
            car.close()
        raise
    # a scratch store is read by the alert evaluator alone: rollups, unless a budget per
    # user or key sums rows
    writer = make_writer(store, url,
                         scratch=store_url is None and not reads_request_rows(config))
    try:
        _seed_flags(store, config, start)
        ev = AlertEvaluator.from_config(store, config, clock, engine_source=breakers)
        gates = GateWatch(store, start, timeline)
        interval = ev.interval_s
        next_eval = start + interval
        evaluations = 0
        if pacer is not None:
            pacer.pace(start)  # trace time is paced from the trace's first minute

        def evaluate(at: float) -> None:
            nonlocal evaluations
            writer.sync(at)  # what a read at `at` can see
            clock.set(max(at, clock.now()))
            if pacer is not None:
                pacer.pace(at)
            if ev.rules:
                for t in ev.evaluate(at):
                    if t.to_state in SHOWN or (t.from_state == "pending"
                                               and t.to_state == "inactive"):
                        timeline.append(Moment(t.at, "alert", t.rule.name, t.from_state,
                                               t.to_state, _value(t.value), t.rule.severity))
            if car is None:
                gates.tick(at)
            else:
                gate_slots.append((len(timeline), at))
            evaluations += 1

        end = first.ended_at
        now = clock.now()
        set_clock, feed, write = clock.set, breakers.feed, writer.add
        sinks = [] if car else [tally.add, gates.add]  # else the child counts these
        if on_record is not None:
            sinks.append(on_record)
        n = 0
        for r, line in chain((head,), records):
            t = r.ended_at
            if t > end:
                end = t
            if t >= next_eval:
                while next_eval <= t:
                    evaluate(next_eval)
                    next_eval += interval
                now = clock.now()
            if t > now:
                set_clock(t)
                now = t
            feed(r)
            write(r, line)
            n += 1
            for sink in sinks:
                sink(r)
        while next_eval <= end + interval:
            evaluate(next_eval)
            next_eval += interval
        writer.sync()
        if car is None:
            verdicts = gates.final(clock.now())
        else:
            tally, verdicts = _merge(car.result(), timeline, gate_slots, n)
        if pacer is not None:
            pacer.finish(clock.now())
    finally:
        writer.close()
        store.close()
        if car is not None:
            car.close()
    timeline.sort(key=lambda m: m.at)  # stable: same-instant moments keep their order
    return FaithfulRun(start, end, tally, timeline, evaluations, breakers.trips,
                       breakers.cooldowns, verdicts)


def _merge(got, timeline: list[Moment], slots: list[tuple[int, float]], records: int
           ) -> tuple[Tally, dict[str, dict]]:
    """The sidecar's summary and verdicts; its gate moments put into `timeline` where this
    process would have appended them (each tick's after that tick's alert moments)."""
    from axtui.traces.replay.sidecar import SidecarError

    if got.records != records:
        raise SidecarError(f"the replay's summary process read {got.records} records, the "
                           f"replay {records}")
    if [at for _, at in slots] != [at for at, _ in got.ticks]:
        raise SidecarError("the replay's summary process ticked at other instants than "
                           "the alert evaluator")
    for (index, _), (_, moments) in zip(reversed(slots), reversed(got.ticks), strict=True):
        timeline[index:index] = moments
    return got.tally, got.verdicts


def _value(v: float | None) -> str:
    return "no data" if v is None else f"{v:.4g}"


def _seed_flags(store, config: Config, now: float) -> None:
    from axtui.flags.ops import seed

    seed(store, config, now=now)
