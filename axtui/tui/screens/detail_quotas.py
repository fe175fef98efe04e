"""The quotas screen (`l`): each running engine's caller quotas from its heartbeat, scope by
scope (per key, user and IP, per route, global): the limits, and for the busiest callers
what is used and what remains of each, and whether the counts are the fleet's (Redis) or
the engine's own."""

from __future__ import annotations

import time
from decimal import Decimal

from rich.text import Text

from axtui.records import NANO_PER_USD
from axtui.store.process_status import (
    ProcessState,
    QuotaScopeLive,
    QuotaUseLive,
    read_process_states,
)
from axtui.tui.format import age, middle_cut
from axtui.tui.screens.detail import DetailScreen

_SCOPE = {"key": "per key", "user": "per user", "ip": "per IP", "global": "global"}
_UNLIMITED = (("key", "per key"), ("user", "per user"), ("ip", "per IP"),
              ("route", "any route"), ("global", "global"))
# scope, caller, limit, used, remaining: 68 columns with the indent
_W_SCOPE, _W_WHO, _W_LIMIT, _W_USED, _W_LEFT = 12, 16, 14, 10, 11
NO_QUOTAS = ("no quotas configured: add [quotas.per_user], [quotas.per_key],\n"
             "  [quotas.per_ip], [quotas.global] or [quotas.per_route.NAME]\n"
             "  (rpm, tpm, spend_day_usd)")


def _usd(nano: int) -> str:
    """$5.00, $4.995, $0.0012: cents at least, to a hundredth of a cent."""
    text = f"{Decimal(nano) / NANO_PER_USD:,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents:0<2}"


def _units(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) or v >= 100 else f"{v:,.1f}"


def scope_name(s: QuotaScopeLive) -> str:
    return f"route {s.who}" if s.scope == "route" else _SCOPE.get(s.scope, s.scope)


def _row(scope: str, who: str, limit: str, used: str, left: str) -> str:
    return (f"  {middle_cut(scope, _W_SCOPE):<{_W_SCOPE}} {middle_cut(who, _W_WHO):<{_W_WHO}}"
            f"{limit:>{_W_LIMIT}} {used:>{_W_USED}} {left:>{_W_LEFT}}\n")


def _use_rows(scope: str, use: QuotaUseLive) -> list[str]:
    """A caller's rows, one per limit (rpm, tpm, spend), its scope and name on the first."""
    cells: list[tuple[str, str, str]] = []
    for unit, w in (("rpm", use.rpm), ("tpm", use.tpm)):
        if w is not None:
            cells.append((f"{w.limit:,} {unit}", _units(w.used), f"{w.remaining:,}"))
    if (sp := use.spend) is not None:
        cells.append((f"{_usd(sp.limit_nano)}/day", _usd(sp.spent_nano),
                      _usd(sp.remaining_nano)))
    return [_row(scope if i == 0 else "", use.who if i == 0 else "", *c)
            for i, c in enumerate(cells)]


def _limits(s: QuotaScopeLive) -> str:
    parts = [f"{v:,} {u}" for v, u in ((s.rpm, "rpm"), (s.tpm, "tpm")) if v]
    if s.spend_day_usd is not None:
        parts.append(f"${s.spend_day_usd}/day")
    return ", ".join(parts)


def render_engine(t: Text, st: ProcessState) -> None:
    """One engine's quotas under its name."""
    t.append(f"{st.face} {st.process_id}", "bold")
    t.append(f"  pid {st.pid} on {st.host}\n")
    q = st.live.quotas
    if st.problem:
        t.append(f"  cannot read its heartbeat: {st.problem}\n", "bold red")
        return
    if q is None:
        t.append("  this engine does not report its quotas (an older axtui)\n", "dim")
        return
    if not q.scopes:
        t.append(f"  {NO_QUOTAS}\n")
        return
    counted = ("counters shared via Redis (the fleet's counts)" if q.shared
               else "counters local to this engine")
    t.append(f"  {counted}\n", "" if q.shared or q.note is None else "yellow")
    if q.note:
        t.append(f"  {q.note}\n", "bold yellow")
    t.append(_row("scope", "caller", "limit", "used", "remaining"), "dim")
    for s in q.scopes:
        name = scope_name(s)
        if not s.top:
            t.append(_row(name, "(no caller yet)", _limits(s), "", ""))
            continue
        for i, use in enumerate(s.top):
            for line in _use_rows(name if i == 0 else "", use):
                t.append(line)
        if s.callers is not None:
            shown = len(s.top)
            more = (f"busiest {shown} of {s.callers:,} callers" if s.callers > shown
                    else f"{s.callers:,} caller{'s' if s.callers != 1 else ''}")
            seen = " seen by this engine" if q.shared else ""
            t.append(" " * (3 + _W_SCOPE) + f"({more}{seen})\n", "dim")
    limited = {s.scope for s in q.scopes}
    free = [name for scope, name in _UNLIMITED if scope not in limited]
    if free:
        t.append(f"  not limited: {', '.join(free)}\n", "dim")


class QuotasScreen(DetailScreen):
    """Read again every REFRESH_S while open: the engines beat about once a second."""

    REFRESH_S = 2.0

    def __init__(self, context) -> None:  # noqa: ANN001 - a ConsoleContext
        super().__init__("quotas", context)

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(self.REFRESH_S, self.refresh_figures)

    def refresh_figures(self) -> None:
        self.run_worker(self._load(), exit_on_error=False, group="detail", exclusive=True)

    def heading(self) -> str:
        return "quotas: limit, used and remaining per scope, from each engine   (esc back)"

    def read(self) -> Text:
        store = self.context.store
        with store.read() as conn:
            states = read_process_states(conn, time.time())
        t = Text()
        fresh = [s for s in states if not s.stale]
        stale = len(states) - len(fresh)
        if not fresh:
            t.append("no engine is running on this store: quotas are counted by the engines "
                     "that\nserve (axtui serve, the demo)\n")
        for st in fresh:
            render_engine(t, st)
            t.append("\n")
        if stale:
            oldest = max(s.age_s for s in states if s.stale)
            t.append(f"{stale} engine{'s' if stale > 1 else ''} not heard from lately left out "
                     f"(last heartbeat up to {age(oldest)} ago)\n", "dim")
        return t
