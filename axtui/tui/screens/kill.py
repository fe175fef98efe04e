"""The kill dialog: takes a deployment (drain) or a flag (kill) out of routing, through the
same operations as `axtui deployments drain` and `axtui flags kill`, audited with the reason
typed here. On a drained deployment or a killed flag it offers the reversal instead.

The dialog names the target, its state now, what the action does and its blast radius (the
routes that lose it and its share of the window's traffic), from the Snapshot on screen.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from textual.widgets import Button, Static

from axtui.engine import control
from axtui.flags.ops import FlagError, change
from axtui.snapshot.model import DEPLOYMENT_GLYPHS, DEPLOYMENT_WORDS, Snapshot
from axtui.tui.context import ConsoleContext, Target
from axtui.tui.screens.reason import ReasonScreen

log = logging.getLogger(__name__)

Operation = Literal["drain", "undrain", "kill", "revive"]


@dataclass(frozen=True)
class KillPlan:
    kind: Literal["deployment", "flag"]
    name: str
    operation: Operation
    state: str  # one line: the target's state now
    effect: str  # what the operation does
    blast: str  # who loses what

    @property
    def reversal(self) -> bool:
        return self.operation in ("undrain", "revive")


class NoKillTarget(ValueError):
    pass


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"


def _window(s: float) -> str:
    """`1 min`, `90 s`: a window as it reads (a young store's window is a few odd seconds)."""
    return f"{s / 60:.3g} min" if s >= 60 else f"{max(1, round(s))} s"


def plan_kill(target: Target | None, snapshot: Snapshot | None) -> KillPlan:
    """What `K` on `target` would do, or NoKillTarget saying why it cannot."""
    if target is None:
        raise NoKillTarget("nothing focused: focus a deployment or a flag, or use :kill NAME")
    if snapshot is None:
        raise NoKillTarget("no data yet: wait for the first snapshot")
    if target.kind == "deployment":
        d = snapshot.deployment(target.name)
        if d is None:
            raise NoKillTarget(f"deployment {target.name!r} is not in the snapshot")
        routes = ", ".join(d.routes) or "no route"
        state = (f"{DEPLOYMENT_GLYPHS[d.state]} {DEPLOYMENT_WORDS[d.state]} · "
                 f"{d.rpm:,.0f} rpm · ok {_pct(d.ok_rate)}")
        if d.state == "drained":
            return KillPlan("deployment", d.name, "undrain",
                            state + f" · drained by {d.drained_by}: \"{d.drained_reason}\"",
                            "put it back into its routes in every engine sharing the store",
                            f"routes that get it back: {routes}")
        window = _window(snapshot.pulse.window_s)
        return KillPlan("deployment", d.name, "drain", state,
                        "drain it: out of every route of every engine sharing the store, "
                        "until undrained",
                        f"routes that lose it: {routes}; it served {d.share_of_traffic:.1%} "
                        f"of the last {window}'s attempts")
    if target.kind == "flag":
        f = snapshot.flag(target.name)
        if f is None:
            raise NoKillTarget(f"flag {target.name!r} is not in the snapshot")
        state = f"{f.kind} flag · {f.status} · applied {f.pct:g}% (routing {f.effective_pct:g}%)"
        if f.status == "killed":
            return KillPlan("flag", f.name, "revive",
                            state + f" · killed by {f.killed_by}: \"{f.kill_reason}\"",
                            "revive it: lifts the kill; it stays at 0% until a rollout raises it",
                            f"steers: {f.target}")
        return KillPlan("flag", f.name, "kill", state,
                        "kill it: 0% at once in every engine sharing the store; increases are "
                        "refused until revived",
                        f"steers: {f.target}; its cohort of {f.effective_pct:g}% "
                        f"({f.cohort_n:,} requests since its last change) goes back to the "
                        f"baseline")
    raise NoKillTarget(f"K acts on a deployment or a flag, not on {target.kind} {target.name!r}")


def run_kill(context: ConsoleContext, plan: KillPlan, reason: str) -> str:
    """Carry out `plan` (blocking: call from a worker thread). Returns one line for a toast."""
    store, by = context.store, context.by
    if plan.operation == "drain":
        version = control.drain(store, plan.name, reason, by)
        return f"{plan.name}: drained (control version {version})"
    if plan.operation == "undrain":
        if not control.undrain(store, plan.name, by):
            return f"{plan.name}: was not drained"
        return f"{plan.name}: back in its routes"
    r = change(store, plan.name, action=plan.operation, by=by, reason=reason or None)
    if not r.changed:
        return f"flag {plan.name}: {r.note}"
    return f"flag {plan.name}: {'killed' if plan.operation == 'kill' else 'revived'}"


VERBS = {"drain": "Drain", "undrain": "Undrain", "kill": "Kill", "revive": "Revive"}


class KillScreen(ReasonScreen):
    """Dismisses with the result line, or None when cancelled."""

    def __init__(self, plan: KillPlan, context: ConsoleContext) -> None:
        what = "deployment" if plan.kind == "deployment" else "flag"
        body = f"now: {plan.state}\neffect: {plan.effect}\nblast radius: {plan.blast}"
        if plan.reversal:
            body += "\n\nThis reverses an operator's kill; it is audited."
        super().__init__(f"{VERBS[plan.operation]} {what} {plan.name}?", body,
                         confirm=VERBS[plan.operation], reason_required=not plan.reversal,
                         placeholder="reason (required, audited)" if not plan.reversal
                         else "reason (optional, audited)")
        self.plan = plan
        self.context = context

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(".body", Static).styles.height = "auto"

    def confirmed(self, reason: str) -> None:
        if self.context.readonly:
            self.notify("read-only console: kill refused", severity="error")
            self.dismiss(None)
            return
        if not reason and not self.plan.reversal:
            return
        self.query_one("#confirm", Button).disabled = True
        self.run_worker(self._run(reason), exit_on_error=False, group="kill")

    async def _run(self, reason: str) -> None:
        try:
            line = await asyncio.to_thread(run_kill, self.context, self.plan, reason)
        except FlagError as e:
            self._failed(e.message)
            return
        except Exception as e:  # a locked store: say so, keep the dialog open to retry
            log.warning("kill %s failed: %s", self.plan.name, e)
            self._failed(f"{type(e).__name__}: {e}")
            return
        self.notify(line, title="audited")
        self.dismiss(line)

    def _failed(self, message: str) -> None:
        self.notify(f"{self.plan.operation} {self.plan.name} failed: {message}",
                    severity="error")
        self.query_one("#confirm", Button).disabled = False
