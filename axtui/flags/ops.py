"""Every change to a flag goes through `change()`: the CLI, the admin API, the console and
auto-rollback alike, so every guardrail lives here, in one place.

`change()` reads the flag's control entry, applies the guardrails, then writes the new state
with a compare-and-set on the version it read *and* the audit event (kind "flag") in one
transaction: a change is recorded exactly when it lands. Two processes changing one flag at
once: one wins, the other gets `FlagConflict` and nothing of it is written.

Errors carry the exit code the CLI uses: 2 bad input (unknown flag, bad percentage, missing
reason, an increase on a killed flag), 1 refused by a guardrail, 4 conflict (re-read, retry).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from axtui.config import Config, ConfigError, FlagConfig, parse_config
from axtui.flags.gates import GateReport, evaluate_gates
from axtui.flags.guardrails import Violation, check_increase
from axtui.flags.model import FLAG_PREFIX, FlagState, Kill, control_key, tenths
from axtui.store import control as control_plane
from axtui.store.control import ControlConflict

Action = Literal["seed", "create", "rollout", "advance", "kill", "revive", "enable", "disable",
                 "gate"]
AUTO_BY = "auto-rollback"
WATCH_INTERVAL_S = 60.0  # `flags validate --watch`'s default: seconds between gate checks


class FlagError(Exception):
    code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownFlag(FlagError):
    pass


class InvalidChange(FlagError):
    pass


class FlagKilled(InvalidChange):
    pass


class Refused(FlagError):
    """A guardrail said no; `violations` say which and why, `verdict` holds the numbers."""

    code = 1

    def __init__(self, message: str, violations: list[Violation],
                 verdict: GateReport | None) -> None:
        super().__init__(message)
        self.violations = violations
        self.verdict = verdict


class FlagConflict(FlagError):
    code = 4


class ChangeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    action: str
    changed: bool
    from_pct: float | None
    to_pct: float
    version: int | None  # the control version written (None: nothing written)
    forced: bool = False
    overridden: list[Violation] = []
    verdict: GateReport | None = None
    state: FlagState
    note: str = ""


# ------------------------------------------------------------------------------ reads


def get_flag(store, name: str) -> tuple[FlagState, int]:
    """The flag's state and the version to compare-and-set against."""
    entry = store.get_control(control_key(name))
    if entry is None:
        known = ", ".join(list_names(store)) or "none"
        raise UnknownFlag(f"unknown flag {name!r}; flags: {known}")
    try:
        return FlagState.model_validate(entry.value), entry.version
    except ValidationError as e:
        raise FlagError(f"flag {name!r}: stored state is unreadable: "
                        f"{e.errors()[0]['msg']}") from None


def list_names(store) -> list[str]:
    snap = store.control_snapshot()
    return sorted(k[len(FLAG_PREFIX):] for k in snap.entries if k.startswith(FLAG_PREFIX))


def list_flags(store) -> list[FlagState]:
    out = []
    for key, entry in sorted(store.control_snapshot().entries.items()):
        if key.startswith(FLAG_PREFIX):
            try:
                out.append(FlagState.model_validate(entry.value))
            except ValidationError:
                continue  # `flags show NAME` names the problem; a list shows what it can
    return out


def check_definition(config: Config, name: str, definition: FlagConfig) -> None:
    """Refuse a definition that names routes or deployments `config` does not have."""
    data = config.model_dump(mode="json", exclude_none=True)
    data["flags"] = {name: definition.model_dump(mode="json", exclude_none=True)}
    try:
        parse_config(data, "flag")
    except ConfigError as e:
        raise InvalidChange("; ".join(p.removeprefix("flag: ") for p in e.problems)) from None


def seed(store, config: Config, *, by: str = "config", now: float | None = None) -> list[str]:
    """Create the config's flags that the store lacks; never touch an existing one (the
    store holds the operator's state). Returns the names created."""
    created = []
    for name, definition in config.flags.items():
        if store.get_control(control_key(name)) is not None:
            continue
        try:
            r = change(store, name, action="seed", definition=definition, by=by, now=now)
        except FlagConflict:
            continue  # another process seeded it first: the same definition
        if r.changed:
            created.append(name)
    return created


# ------------------------------------------------------------------------------ the change


def change(
    store,
    name: str,
    *,
    action: Action,
    by: str,
    pct: float | None = None,
    reason: str | None = None,
    force: bool = False,
    definition: FlagConfig | None = None,
    now: float | None = None,
) -> ChangeResult:
    """Apply one operator action to flag `name`, guarded and audited. Raises FlagError
    (UnknownFlag, InvalidChange, FlagKilled, Refused, FlagConflict); nothing is written then.

    Actions: seed/create (with `definition`), rollout (to `pct`), advance (to the next
    ladder step), kill (needs `reason`), revive, enable, disable, and gate (evaluate the
    gates for auto-rollback: count a failure, and roll back after `rollback_after`)."""
    now = store.clock.now() if now is None else now
    by = (by or "").strip()
    reason = (reason or "").strip() or None
    if not by:
        raise InvalidChange("a change needs who made it (by)")
    if force and not reason:
        raise InvalidChange("--force needs a reason (it is audited)")
    if action in ("seed", "create"):
        return _create(store, name, action, definition, by, reason, force, now)
    state, version = get_flag(store, name)
    if action == "gate":
        return _gate(store, state, version, by, now)
    if action == "kill":
        return _kill(store, state, version, by, reason, now)
    if action == "revive":
        if state.killed is None:
            raise InvalidChange(f"flag {name!r} is not killed")
        new = state.model_copy(update={"killed": None, "last_change_at": now,
                                       "consecutive_failures": 0})
        return _write(store, state, new, version, action, by, reason, now)
    if action == "disable":
        new = state.model_copy(update={"enabled": False, "last_change_at": now,
                                       "consecutive_failures": 0})
        return _write(store, state, new, version, action, by, reason, now)
    if action == "enable":
        new = state.model_copy(update={"enabled": True})
        return _guarded(store, state, new, version, action, by, reason, force, now)
    if action == "advance":
        if state.killed is not None:
            raise FlagKilled(_killed_msg(state))
        nxt = state.next_step()
        if nxt is None:
            raise InvalidChange(f"flag {name!r} is at the top of its ladder"
                                if state.definition.ladder else f"flag {name!r} has no ladder")
        pct = nxt
    elif action != "rollout":
        raise InvalidChange(f"unknown action {action!r}")
    target = _valid_pct(pct)
    new = state.model_copy(update={"pct": target})
    return _guarded(store, state, new, version, action, by, reason, force, now)


def _valid_pct(pct: float | None) -> float:
    if pct is None:
        raise InvalidChange("a rollout needs a percentage")
    if not 0 <= pct <= 100:
        raise InvalidChange(f"percentage {pct:g} is out of range 0-100")
    if round(pct, 1) != pct:
        raise InvalidChange(f"percentage {pct:g}: at most one decimal (e.g. 2.5)")
    return float(pct)


def _killed_msg(state: FlagState) -> str:
    k = state.killed
    assert k is not None
    return (f"flag {state.name!r} was killed by {k.by} ({k.reason}); "
            f"`revive` it before any increase")


def _create(store, name, action, definition, by, reason, force, now) -> ChangeResult:
    if definition is None:
        raise InvalidChange(f"{action} needs a definition")
    state = FlagState.seeded(name, definition, by=by, now=now)
    if action == "create":
        if store.get_control(control_key(name)) is not None:
            raise InvalidChange(f"flag {name!r} already exists")
        limit = definition.guardrails.canary_pct
        if tenths(definition.pct) > tenths(limit) and not force:
            raise Refused(f"a new flag starts at most at the canary size {limit:g}%",
                          [Violation(rule="step", message=f"0% -> {definition.pct:g}% exceeds "
                                     f"the canary size {limit:g}%")], None)
        if definition.effect.kind == "force" and not reason:
            raise InvalidChange("creating a force flag needs a reason (it is audited)")
    return _write(store, None, state, 0, action, by, reason, now, forced=force)


def _guarded(store, state: FlagState, new: FlagState, version: int, action: str, by: str,
             reason: str | None, force: bool, now: float) -> ChangeResult:
    """Decreases land at once; increases pass the guardrails or are forced with a reason."""
    old_pct, new_pct = state.effective_pct, new.effective_pct
    if state.killed is not None and tenths(new.pct) > tenths(state.pct):
        raise FlagKilled(_killed_msg(state))
    if tenths(new_pct) <= tenths(old_pct):
        update: dict[str, Any] = {"consecutive_failures": 0}
        if tenths(new_pct) < tenths(old_pct) or tenths(new.pct) != tenths(state.pct):
            update["last_change_at"] = now
            update["previous_pct"] = min(state.previous_pct, new.pct)
        if tenths(new.pct) == tenths(state.pct) and new.enabled == state.enabled:
            return ChangeResult(name=state.name, action=action, changed=False,
                                from_pct=state.pct, to_pct=state.pct, version=None,
                                state=state, note="already there")
        return _write(store, state, new.model_copy(update=update), version, action, by,
                      reason, now)
    if state.definition.effect.kind == "force" and not reason:
        raise InvalidChange("raising a force flag needs a reason (it is audited)")
    verdict = evaluate_gates(store, state, now) if old_pct > 0 else None
    violations = check_increase(state, new_pct, now, verdict)
    if violations and not force:
        raise Refused(f"{action} {state.name} {old_pct:g}% -> {new_pct:g}% refused: "
                      + "; ".join(v.message for v in violations), violations, verdict)
    new = new.model_copy(update={"previous_pct": old_pct, "last_change_at": now,
                                 "consecutive_failures": 0})
    return _write(store, state, new, version, action, by, reason, now, forced=force,
                  overridden=violations, verdict=verdict)


def _kill(store, state: FlagState, version: int, by: str, reason: str | None,
          now: float) -> ChangeResult:
    if not reason:
        raise InvalidChange("a kill needs a reason (--reason): it is audited")
    if state.killed is not None:
        return ChangeResult(name=state.name, action="kill", changed=False, from_pct=state.pct,
                            to_pct=0.0, version=None, state=state,
                            note=f"already killed by {state.killed.by}")
    new = state.model_copy(update={
        "pct": 0.0, "killed": Kill(by=by, at=now, reason=reason), "last_change_at": now,
        "previous_pct": 0.0, "consecutive_failures": 0})
    return _write(store, state, new, version, "kill", by, reason, now)


def _gate(store, state: FlagState, version: int, by: str, now: float) -> ChangeResult:
    """One auto-rollback evaluation: a go resets the failure count, an inconclusive leaves
    it, a no-go adds one, and the `rollback_after`-th in a row rolls the flag back."""
    unchanged = ChangeResult(name=state.name, action="gate", changed=False, from_pct=state.pct,
                             to_pct=state.pct, version=None, state=state)
    if state.effective_pct == 0:
        return unchanged.model_copy(update={"note": "nothing to watch at 0%"})
    verdict = evaluate_gates(store, state, now)
    if verdict.verdict == "inconclusive":
        return unchanged.model_copy(update={"verdict": verdict})
    if verdict.verdict == "go":
        if state.consecutive_failures == 0:
            return unchanged.model_copy(update={"verdict": verdict})
        new = state.model_copy(update={"consecutive_failures": 0})
        return _write(store, state, new, version, "gate", by, "gates passed", now,
                      verdict=verdict)
    failures = state.consecutive_failures + 1
    g = state.definition.guardrails
    why = "; ".join(verdict.reasons)
    if g.rollback_after is None or failures < g.rollback_after:
        new = state.model_copy(update={"consecutive_failures": failures})
        return _write(store, state, new, version, "gate", by,
                      f"gate failed ({failures} in a row): {why}", now, verdict=verdict)
    reason = f"gates failed {failures} times in a row: {why}"
    if g.rollback_to == "kill":
        new = state.model_copy(update={
            "pct": 0.0, "killed": Kill(by=by, at=now, reason=reason), "previous_pct": 0.0,
            "last_change_at": now, "consecutive_failures": 0})
    else:
        back = state.previous_pct if tenths(state.previous_pct) < tenths(state.pct) else 0.0
        new = state.model_copy(update={"pct": back, "previous_pct": min(back, state.previous_pct),
                                       "last_change_at": now, "consecutive_failures": 0})
    return _write(store, state, new, version, "rollback", by, reason, now, verdict=verdict)


def _write(store, old: FlagState | None, new: FlagState, version: int, action: str, by: str,
           reason: str | None, now: float, *, forced: bool = False,
           overridden: list[Violation] | None = None,
           verdict: GateReport | None = None) -> ChangeResult:
    """The flag's new state (compare-and-set on `version`) and its audit event, atomically."""
    effect = new.definition.effect
    detail: dict[str, Any] = {
        "action": action, "from": None if old is None else old.pct, "to": new.pct,
        "effective": new.effective_pct, "by": by, "reason": reason, "forced": forced,
        "kind": effect.kind, "route": effect.route, "deployments": effect.deployments(),
    }
    if overridden:
        detail["overridden"] = [v.model_dump() for v in overridden]
    if verdict is not None:
        detail["verdict"] = verdict_numbers(verdict)
    value = new.model_dump(mode="json")
    try:
        with store.begin() as conn:
            written = control_plane.set_control(
                conn, control_key(new.name), value, by=by, now=now, expected_version=version,
                native_upsert=store.native_upsert)
            control_plane.add_event(conn, "flag", new.name, detail, now)
    except ControlConflict as e:
        raise FlagConflict(
            f"flag {new.name!r} changed while this {action} was being decided (version "
            f"{e.actual}, read {e.expected}); nothing was written: re-read and retry") from None
    return ChangeResult(name=new.name, action=action, changed=True,
                        from_pct=None if old is None else old.pct, to_pct=new.pct,
                        version=written, forced=forced, overridden=overridden or [],
                        verdict=verdict, state=new)


def verdict_numbers(v: GateReport) -> dict[str, Any]:
    """The numbers an audit event keeps of a verdict."""
    return {
        "verdict": v.verdict, "since": v.since, "until": v.until,
        "cohort": {"requests": v.cohort.requests, "error_rate": v.cohort.error_rate,
                   "p95_ms": v.cohort.p95_ms,
                   "cost_per_request_nano": v.cohort.cost_per_request_nano},
        "baseline": {"requests": v.baseline.requests, "error_rate": v.baseline.error_rate,
                     "p95_ms": v.baseline.p95_ms,
                     "cost_per_request_nano": v.baseline.cost_per_request_nano},
        "failed": [c.name for c in v.checks if c.passed is False],
    }


def watch_once(store, name: str, *, by: str = AUTO_BY, now: float | None = None) -> ChangeResult:
    """One auto-rollback tick for `name` (call it on an interval: the CLI's
    `flags validate --watch`, or a gateway background task)."""
    return change(store, name, action="gate", by=by, now=now)
