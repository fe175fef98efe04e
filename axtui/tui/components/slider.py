"""The rollout slider: the applied percentage, a pending one the arrow keys move, and what
the guardrails say about it, computed by `flags.guardrails.check_increase` (the code
`flags.ops.change` runs), never re-implemented here.

Enter commits through `flags.ops.change()` in a worker; a pending value past a guardrail
asks for a typed reason and is committed with `force=True` (audited). Esc reverts.
"""

from __future__ import annotations

import asyncio
import logging
import time

from rich.text import Text
from textual.actions import SkipAction
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from axtui.flags.gates import GateReport, evaluate_gates, fmt
from axtui.flags.guardrails import Violation, check_increase, step_limit
from axtui.flags.model import FlagState, tenths
from axtui.flags.ops import ChangeResult, FlagError, Refused, change, get_flag
from axtui.tui.context import ConsoleContext
from axtui.tui.screens.reason import ReasonScreen

log = logging.getLogger(__name__)


def fine_step(pct: float, direction: int) -> float:
    """The next value one arrow press reaches: 0.1 below 1%, 0.5 below 5%, 1 below 20%,
    then 5 (a 0.5% canary is two presses from 0, 100% is twenty from 5%)."""
    here = tenths(pct)
    grid = [(10, 1), (50, 5), (200, 10), (1000, 50)]  # (below tenths, step in tenths)
    if direction > 0:
        step = next(s for below, s in grid if here < below) if here < 1000 else 0
        nxt = (here // step + 1) * step if step else here
    else:
        step = next(s for below, s in grid if here <= below)
        nxt = (-(-here // step) - 1) * step
    return max(0, min(1000, nxt)) / 10


def ladder_step(state: FlagState, pct: float, direction: int) -> float:
    ladder = [0.0, *state.definition.ladder, 100.0]
    if direction > 0:
        return next((p for p in ladder if tenths(p) > tenths(pct)), 100.0)
    return next((p for p in reversed(ladder) if tenths(p) < tenths(pct)), 0.0)


def assess(state: FlagState, pending: float, now: float,
           verdict: GateReport | None) -> list[Violation]:
    """What committing `pending` would break: nothing for a decrease, `check_increase`'s
    violations for an increase, and a kill that only `revive` lifts."""
    if tenths(pending) <= tenths(state.effective_pct) and state.killed is None:
        return []
    if state.killed is not None and tenths(pending) > tenths(state.pct):
        return [Violation(rule="killed", message=f"killed by {state.killed.by} "
                          f"({state.killed.reason}): revive it before any increase")]
    if tenths(pending) <= tenths(state.effective_pct):
        return []
    return check_increase(state, pending, now, verdict if state.effective_pct > 0 else None)


def _dur(s: float) -> str:
    s = max(0.0, s)
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.0f}m" if s < 7200 else f"{s / 3600:.1f}h"


class RolloutSlider(Widget, can_focus=True):
    """One flag's rollout. Reads its state and gate verdict in a worker on mount."""

    DEFAULT_CSS = """
    RolloutSlider { height: auto; min-height: 6; padding: 0 1; }
    RolloutSlider:focus { background: $boost; }
    RolloutSlider > .slider--applied { color: $primary; }
    RolloutSlider > .slider--raise { color: $state-ok; }
    RolloutSlider > .slider--blocked { color: $state-open; }
    RolloutSlider > .slider--lower { color: $state-degraded; }
    RolloutSlider > .slider--track { color: $foreground 30%; }
    RolloutSlider > .slider--ok { color: $state-ok; }
    RolloutSlider > .slider--bad { color: $state-open; text-style: bold; }
    RolloutSlider > .slider--killed { color: $state-killed; text-style: bold reverse; }
    RolloutSlider > .slider--dim { color: $foreground 60%; }
    """
    COMPONENT_CLASSES = {"slider--applied", "slider--raise", "slider--blocked",
                         "slider--lower", "slider--track", "slider--ok", "slider--bad",
                         "slider--killed", "slider--dim"}
    BINDINGS = [
        Binding("right", "nudge(1)", "+", show=False, id="slider-up"),
        Binding("left", "nudge(-1)", "-", show=False, id="slider-down"),
        Binding("up,shift+right", "ladder(1)", "next step", show=False, id="slider-ladder-up"),
        Binding("down,shift+left", "ladder(-1)", "prev step", show=False,
                id="slider-ladder-down"),
        Binding("pageup", "jump(10)", "+10", show=False, id="slider-page-up"),
        Binding("pagedown", "jump(-10)", "-10", show=False, id="slider-page-down"),
        Binding("enter", "commit", "commit", id="slider-commit"),
        Binding("escape", "revert", "revert", id="slider-revert"),
    ]

    pending: reactive[float | None] = reactive(None, layout=True)
    message: reactive[str] = reactive("", layout=True)

    class Committed(Message):
        def __init__(self, slider: RolloutSlider, result: ChangeResult) -> None:
            super().__init__()
            self.slider = slider
            self.result = result

    def __init__(self, flag: str, context: ConsoleContext, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.flag = flag
        self.context = context
        self.state: FlagState | None = None
        self.verdict: GateReport | None = None
        self.now: float = 0.0
        self.busy = False

    # -------------------------------------------------------------------- data

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.run_worker(self._load(), group="slider-load", exclusive=True, exit_on_error=False)

    def _read(self) -> tuple[FlagState, GateReport | None, float]:
        store = self.context.store
        now = store.clock.now()
        state, _ = get_flag(store, self.flag)
        verdict = evaluate_gates(store, state, now) if state.effective_pct > 0 else None
        return state, verdict, now

    async def _load(self) -> None:
        try:
            state, verdict, now = await asyncio.to_thread(self._read)
        except FlagError as e:
            self.message = e.message
            return
        except Exception as e:  # a locked store must not kill the console: say it
            log.warning("slider %s: load failed: %s", self.flag, e)
            self.message = f"cannot read flag {self.flag}: {type(e).__name__}: {e}"
            return
        keep = self.pending if self.state is not None and self.pending is not None else None
        self.state, self.verdict, self.now = state, verdict, now
        self.pending = state.pct if keep is None else keep
        self.refresh(layout=True)

    @property
    def violations(self) -> list[Violation]:
        if self.state is None or self.pending is None:
            return []
        return assess(self.state, self.pending, self.now, self.verdict)

    # -------------------------------------------------------------------- keys

    def _move(self, value: float) -> None:
        if self.state is None:
            return
        self.pending = max(0.0, min(100.0, round(value, 1)))
        self.message = ""

    def action_nudge(self, direction: int) -> None:
        if self.pending is not None:
            self._move(fine_step(self.pending, direction))

    def action_ladder(self, direction: int) -> None:
        if self.state is not None and self.pending is not None:
            self._move(ladder_step(self.state, self.pending, direction))

    def action_jump(self, delta: int) -> None:
        if self.pending is not None:
            self._move(self.pending + delta)

    def action_revert(self) -> None:
        if self.state is None or self.pending is None or tenths(self.pending) == tenths(
                self.state.pct):
            raise SkipAction()  # nothing pending: esc goes back
        self.pending = self.state.pct
        self.message = "reverted"

    def action_commit(self) -> None:
        if self.state is None or self.pending is None or self.busy:
            return
        if self.context.readonly:
            self.message = "read-only console: rollout changes are refused"
            return
        if tenths(self.pending) == tenths(self.state.pct):
            self.message = "nothing to commit: pending equals applied"
            return
        violations = self.violations
        if any(v.rule == "killed" for v in violations):
            self.message = violations[0].message
            return
        if violations:
            self._ask_force(violations)
        else:
            self._start_commit(force=False, reason=None)

    def _ask_force(self, violations: list[Violation]) -> None:
        assert self.state is not None and self.pending is not None
        body = "\n".join(f"✗ {v.rule}: {v.message}" for v in violations)
        title = f"{self.flag}: {self.state.pct:g}% → {self.pending:g}% goes past a guardrail"

        def done(reason: str | None) -> None:
            if reason:
                self._start_commit(force=True, reason=reason)
            else:
                self.message = "not committed: " + "; ".join(v.rule for v in violations)

        self.app.push_screen(ReasonScreen(title, body + "\n\nType why to override (audited).",
                                          confirm="Override"), done)

    def _start_commit(self, *, force: bool, reason: str | None) -> None:
        self.busy = True
        self.message = "committing…"
        self.run_worker(self._commit(self.pending, force, reason), group="slider-commit",
                        exit_on_error=False)

    async def _commit(self, pct: float, force: bool, reason: str | None) -> None:
        try:
            result = await asyncio.to_thread(
                change, self.context.store, self.flag, action="rollout", by=self.context.by,
                pct=pct, force=force, reason=reason)
        except Refused as e:  # the state moved since it was read: show why, offer override
            self.busy = False
            self.message = "refused: " + "; ".join(v.message for v in e.violations)
            self._ask_force(e.violations)
            return
        except FlagError as e:
            self.busy = False
            self.message = f"refused: {e.message}"
            return
        except Exception as e:
            self.busy = False
            log.warning("slider %s: commit failed: %s", self.flag, e)
            self.message = f"commit failed: {type(e).__name__}: {e}"
            return
        self.busy = False
        forced = " (forced, audited)" if result.forced else ""
        self.message = (f"applied {result.to_pct:g}%{forced}" if result.changed
                        else f"unchanged: {result.note}")
        self.state = None  # the reload starts from what landed
        self.reload()
        self.post_message(self.Committed(self, result))

    # -------------------------------------------------------------------- render

    def _style(self, name: str):
        return self.get_component_rich_style(f"slider--{name}", partial=True)

    def _bar(self, width: int) -> Text:
        assert self.state is not None and self.pending is not None
        applied, pending = self.state.effective_pct, self.pending
        limit = step_limit(self.state)
        blocked = bool(self.violations)

        def pos(p: float) -> int:
            return round(p / 100 * (width - 1))

        a, p, lim = pos(applied), pos(pending), pos(limit)
        bar = Text("▕")
        for i in range(width):
            if i < a and (i < p or pending >= applied):
                bar.append("█", self._style("applied"))
            elif a <= i < p:
                bar.append("█", self._style("blocked" if blocked else "raise"))
            elif p <= i < a:
                bar.append("▒", self._style("lower"))
            elif i == lim and limit > applied:
                bar.append("┆", self._style("dim"))
            else:
                bar.append("░", self._style("track"))
        bar.append("▏")
        return bar

    def render(self) -> Text:
        out = Text()
        if self.state is None or self.pending is None:
            out.append(f"{self.flag}: {self.message or 'loading…'}")
            return self._wrapped(out)
        s, pending = self.state, self.pending
        out.append(f"{s.name}", "bold")
        out.append(f"  {s.definition.effect.kind}")
        if s.killed is not None:
            k = s.killed
            out.append("  ")
            out.append(" ⊘ KILLED ", self._style("killed"))
            out.append(f" {time.strftime('%H:%M', time.localtime(k.at))} by {k.by} "
                       f"\"{k.reason}\"")
        elif not s.enabled:
            out.append("  ⊘ DISABLED", self._style("bad"))
        out.append(f"\napplied {s.pct:g}%")
        if tenths(pending) != tenths(s.pct):
            arrow = "▲" if pending > s.pct else "▼"
            out.append(f"   pending {arrow} {pending:g}%", "bold")
        out.append("\n")
        out.append_text(self._bar(max(10, self.size.width - 4)))
        out.append("\n")
        out.append_text(self._guardrails())
        verdict = self.violations
        out.append("\n")
        if tenths(pending) == tenths(s.pct):
            out.append("←/→ move  ↑/↓ ladder  enter commit  esc back", self._style("dim"))
        elif verdict:
            out.append("✗ past a guardrail: ", self._style("bad"))
            out.append("; ".join(v.message for v in verdict))
            out.append("\nenter: override with a typed reason (audited)  esc revert",
                       self._style("dim"))
        else:
            out.append("✓ within the guardrails", self._style("ok"))
            out.append("  enter commit  esc revert", self._style("dim"))
        if self.message:
            out.append(f"\n{self.message}")
        return self._wrapped(out)

    def _wrapped(self, text: Text) -> Text:
        """Long verdicts wrap at the widget's width instead of being cut."""
        width = self.content_region.width or 76
        return Text("\n").join(text.wrap(self.app.console, width))

    def _guardrails(self) -> Text:
        """Step limit, dwell left and each gate with its numbers."""
        s = self.state
        assert s is not None
        g = s.definition.guardrails
        t = Text()
        limit = step_limit(s)
        why = (f"canary {g.canary_pct:g}%" if s.effective_pct == 0
               else f"×{g.max_step_factor:g} from {s.effective_pct:g}%")
        t.append(f"step ≤ {limit:g}% ({why})")
        if s.effective_pct == 0:
            t.append("   dwell –   gates – (first step)", self._style("dim"))
            return t
        left = s.last_change_at + g.dwell_s - self.now
        t.append("   dwell ")
        if left > 0:
            t.append(f"✗ {_dur(left)} left", self._style("bad"))
        else:
            t.append("✓ done", self._style("ok"))
        v = self.verdict
        t.append("   gates ")
        if v is None:
            t.append("? not evaluated", self._style("bad"))
            return t
        t.append(f"{'✓' if v.verdict == 'go' else '✗'} {v.verdict}",
                 self._style("ok" if v.verdict == "go" else "bad"))
        t.append(f" (n = {v.cohort.requests:,})")
        for c in v.checks:
            mark = {True: "✓", False: "✗", None: "?"}[c.passed]
            t.append("\n  ")
            t.append(mark, self._style({True: "ok", False: "bad", None: "dim"}[c.passed]))
            nums = ""
            if c.observed is not None and c.limit is not None:
                nums = f" {fmt(c.name, c.observed)} vs {fmt(c.name, c.limit)}"
            t.append(f" {c.name}{nums}")
        return t
