"""The sim's live state: the scenario clock, faults (the scenario's and those added live),
call numbers, each upstream's rate-limit window, and the stats the control endpoint reports.

All of it lives on one event loop; nothing here awaits, so no locks.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from axtui.clock import Clock, RealClock
from axtui.sim.faults import Plan, plan_call
from axtui.sim.scenario import Fault, Scenario, Upstream
from axtui.sim.wire import Window

_WINDOW_S = 60.0  # the rate-limit window the headers describe
_KEEP_SECONDS = 3600  # per-second call counts kept for /_sim/stats


class ControlError(ValueError):
    """Bad input to the control endpoint; answered as a 400."""


@dataclass(slots=True)
class UpstreamStats:
    calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    per_second: dict[int, int] = field(default_factory=dict)
    window: deque[tuple[float, int]] = field(default_factory=deque)  # (monotonic, tokens)
    window_tokens: int = 0  # the sum of the window's tokens

    def as_json(self, now_s: float) -> dict[str, Any]:
        done = [n for s, n in self.per_second.items() if s < int(now_s)]  # whole seconds only
        return {
            "calls": self.calls,
            "outcomes": dict(sorted(self.outcomes.items())),
            "max_calls_per_s": max(done, default=0),
            "by_second": [[s, n] for s, n in sorted(self.per_second.items())],
        }


@dataclass(frozen=True, slots=True)
class LiveFault:
    id: int
    fault: Fault


class SimState:
    def __init__(self, scenario: Scenario, *, seed: int | None = None,
                 clock: Clock | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.scenario.seed if seed is None else seed
        self.clock = clock or RealClock()
        self.upstreams: dict[str, Upstream] = {u.name: u for u in scenario.upstreams}
        self._next_live = 1
        self.sim_errors = 0  # requests the sim failed on (a bug): answered 500 and logged
        self.clients_left = 0  # clients gone before their request body arrived
        self.restart()

    # ---------------------------------------------------------------- clock and calls

    def restart(self, seed: int | None = None) -> None:
        """Scenario time back to 0: call numbers, stats and live faults start afresh."""
        if seed is not None:
            self.seed = seed
        self.started = self.clock.monotonic()
        self.live: list[LiveFault] = []
        self.disabled: set[int] = set()  # scenario faults cleared over the control endpoint
        self.stats = {name: UpstreamStats() for name in self.upstreams}
        self.restarts = getattr(self, "restarts", -1) + 1

    def start_clock(self) -> None:
        """Scenario time 0 is when the server starts listening, not when it was built."""
        self.started = self.clock.monotonic()

    def now_s(self) -> float:
        """Seconds on the scenario clock."""
        return self.clock.monotonic() - self.started

    def faults_of(self, upstream: str) -> list[tuple[str, Fault]]:
        out = [(f"s{i}", f) for i, f in enumerate(self.scenario.faults)
               if f.upstream == upstream and i not in self.disabled]
        out.extend((f"l{lf.id}", lf.fault) for lf in self.live if lf.fault.upstream == upstream)
        return out

    def begin_call(self, upstream: str) -> tuple[int, float, Plan]:
        """Number the call, count it in its second, and plan its faults."""
        stats = self.stats[upstream]
        call = stats.calls
        stats.calls += 1
        t = self.now_s()
        second = int(t)
        stats.per_second[second] = stats.per_second.get(second, 0) + 1
        if len(stats.per_second) > _KEEP_SECONDS:
            del stats.per_second[min(stats.per_second)]
        plan = plan_call(self.faults_of(upstream), t, seed=self.seed, upstream=upstream,
                         call=call)
        return call, t, plan

    def end_call(self, upstream: str, outcome: str) -> None:
        self.stats[upstream].outcomes[outcome] += 1

    def window(self, upstream: str, tokens: int) -> Window:
        """Count an answered call in the upstream's 60 s window; the budget left after it."""
        u = self.upstreams[upstream]
        stats = self.stats[upstream]
        w = stats.window
        now = self.clock.monotonic()
        while w and w[0][0] <= now - _WINDOW_S:
            stats.window_tokens -= w.popleft()[1]
        w.append((now, tokens))
        stats.window_tokens += tokens
        used = stats.window_tokens
        # resets as a token bucket refills: the time to regain what the window has used
        return Window(u.rpm_limit, max(0, u.rpm_limit - len(w)), len(w) * _WINDOW_S / u.rpm_limit,
                      u.tpm_limit, max(0, u.tpm_limit - used), used * _WINDOW_S / u.tpm_limit)

    # ---------------------------------------------------------------- live faults

    def add_fault(self, data: Any) -> LiveFault:
        """A fault from the control endpoint, starting now; `for_s` bounds it (else until
        cleared). Its other keys are those of a scenario's [[faults]] entry."""
        if not isinstance(data, dict):
            raise ControlError("expected a JSON object with upstream, kind and the kind's keys")
        fields = dict(data)
        for_s = fields.pop("for_s", None)
        if "start_s" in fields or "end_s" in fields:
            raise ControlError("a live fault starts now: give `for_s` (seconds) instead of "
                               "start_s/end_s")
        if for_s is not None and (not isinstance(for_s, int | float) or for_s <= 0):
            raise ControlError(f"for_s: must be a positive number of seconds, not {for_s!r}")
        if fields.get("upstream") not in self.upstreams:
            raise ControlError(f"upstream: no upstream named {fields.get('upstream')!r} "
                               f"(upstreams: {', '.join(self.upstreams)})")
        now = self.now_s()
        fields["start_s"] = now
        if for_s is not None:
            fields["end_s"] = now + for_s
        try:
            fault = Fault.model_validate(fields)
        except ValidationError as e:
            raise ControlError("; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'fault'}: "
                f"{'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}"
                .replace("Value error, ", "")
                for err in e.errors(include_url=False))) from None
        live = LiveFault(self._next_live, fault)
        self._next_live += 1
        self.live.append(live)
        return live

    def clear_faults(self, *, upstream: str | None = None, fault_id: int | None = None,
                     scenario: bool = False) -> int:
        """Drop live faults (one by id, an upstream's, or all); with `scenario`, also switch
        off the scenario's own faults until the next restart. Returns how many went."""
        if upstream is not None and upstream not in self.upstreams:
            raise ControlError(f"upstream: no upstream named {upstream!r}")
        keep, gone = [], 0
        for lf in self.live:
            if (fault_id is None or lf.id == fault_id) and (
                    upstream is None or lf.fault.upstream == upstream):
                gone += 1
            else:
                keep.append(lf)
        if fault_id is not None and not gone:
            raise ControlError(f"no live fault {fault_id}")
        self.live = keep
        if scenario:
            for i, f in enumerate(self.scenario.faults):
                if (upstream is None or f.upstream == upstream) and i not in self.disabled:
                    self.disabled.add(i)
                    gone += 1
        return gone

    # ---------------------------------------------------------------- reports

    def state_json(self, base_paths: dict[str, str]) -> dict[str, Any]:
        t = self.now_s()
        faults = [{"key": f"s{i}", "source": "scenario", "enabled": i not in self.disabled,
                   "active": i not in self.disabled and f.active(t), **f.as_json()}
                  for i, f in enumerate(self.scenario.faults)]
        faults += [{"key": f"l{lf.id}", "id": lf.id, "source": "live", "enabled": True,
                    "active": lf.fault.active(t), **lf.fault.as_json()} for lf in self.live]
        return {
            "scenario": self.scenario.name,
            "t": round(t, 3),
            "duration_s": self.scenario.scenario.duration_s,
            "seed": self.seed,
            "restarts": self.restarts,
            "upstreams": [{**u.model_dump(), "path": base_paths[u.name]}
                          for u in self.scenario.upstreams],
            "faults": faults,
        }

    def stats_json(self) -> dict[str, Any]:
        t = self.now_s()
        return {"t": round(t, 3), "seed": self.seed, "sim_errors": self.sim_errors,
                "clients_left_early": self.clients_left,
                "upstreams": {n: s.as_json(t) for n, s in self.stats.items()}}
