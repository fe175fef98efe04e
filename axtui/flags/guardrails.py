"""Guardrails on an increase, and the ladder's schedule. Pure functions of a flag's state.

- step: from 0 the first step is at most the canary size; after that an increase may at
  most multiply the percentage by `max_step_factor`;
- dwell: an increase waits `dwell_s` since the last change of percentage;
- gates: an increase needs a "go" verdict on the cohort since the last change.
Dwell and gates do not apply to the first step from 0: there is no cohort to wait on or
judge yet, and the canary limit bounds the risk. Decreases and kills are never guarded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from axtui.flags.gates import GateReport
from axtui.flags.model import FlagState, tenths
from axtui.units import duration as _dur


class Violation(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str  # step | dwell | gates
    message: str


def step_limit(state: FlagState) -> float:
    """The largest percentage one increase may reach from the current one."""
    g = state.definition.guardrails
    cur = state.effective_pct
    if cur == 0:
        return g.canary_pct
    return min(100.0, _floor_tenth(cur * g.max_step_factor))


def _floor_tenth(v: float) -> float:
    return int(v * 10 + 1e-9) / 10


def check_increase(state: FlagState, target: float, now: float,
                   verdict: GateReport | None) -> list[Violation]:
    """What an increase of `state` to `target` would break (empty: allowed)."""
    g = state.definition.guardrails
    out: list[Violation] = []
    limit = step_limit(state)
    cur = state.effective_pct
    if tenths(target) > tenths(limit):
        how = (f"the first step from 0 is at most the canary size {g.canary_pct:g}%" if cur == 0
               else f"an increase may at most multiply by {g.max_step_factor:g}")
        out.append(Violation(rule="step", message=f"{cur:g}% -> {target:g}% is too big: {how} "
                                                  f"(at most {limit:g}%)"))
    if cur == 0:
        return out
    waited = now - state.last_change_at
    if waited < g.dwell_s:
        out.append(Violation(rule="dwell", message=(
            f"last change {_dur(waited)} ago; an increase waits {_dur(g.dwell_s)} "
            f"(another {_dur(g.dwell_s - waited)})")))
    if verdict is None or verdict.verdict != "go":
        why = "; ".join(verdict.reasons) if verdict is not None else "not evaluated"
        out.append(Violation(rule="gates", message=(
            f"gates {verdict.verdict if verdict else 'unknown'}: {why}")))
    return out


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)

    pct: float
    earliest_at: float | None  # None: blocked
    note: str


def schedule(state: FlagState, now: float) -> list[Step]:
    """The remaining ladder steps with the earliest time each could be taken, if every
    gate passes on the way (each step waits the dwell after the one before)."""
    g = state.definition.guardrails
    if state.killed is not None:
        return [Step(pct=p, earliest_at=None, note="blocked: killed (revive first)")
                for p in state.definition.ladder]
    steps: list[Step] = []
    cur = state.effective_pct
    at = now if cur == 0 else max(now, state.last_change_at + g.dwell_s)
    for p in state.definition.ladder:
        if tenths(p) <= tenths(state.pct):
            continue
        if cur == 0:
            note = "canary: no dwell, no gates"
            at = now
        else:
            note = f"after {_dur(g.dwell_s)} dwell, if the gates say go"
        steps.append(Step(pct=p, earliest_at=at, note=note))
        at += g.dwell_s
        cur = p
    return steps

