"""The SLOs screen (`o`): per route and objective, the error budget left over the SLO's
window, burn rates over 5m..3d, what burned it in the last hour, and its burn alerts."""

from __future__ import annotations

from rich.text import Text

from axtui.tui.context import ConsoleContext
from axtui.tui.screens.detail import DetailScreen

BAR = 20  # the budget bar's cells: fits 80 columns beside the objective
_STATE_STYLE = {"firing": "bold red", "pending": "yellow", "nodata": "dim"}


def budget_bar(left: float | None) -> str:
    if left is None:
        return "·" * BAR
    full = round(max(0.0, min(1.0, left)) * BAR)
    return "█" * full + "░" * (BAR - full)


def _burn(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}x"


class SloScreen(DetailScreen):
    def __init__(self, slos: dict, now: float, context: ConsoleContext) -> None:
        super().__init__("SLOs", context)
        self.slos = slos
        self.now = now

    def heading(self) -> str:
        return "SLOs: error budget left and what burns it   (esc back)"

    def read(self) -> Text:
        from axtui.slo.status import slo_statuses

        t = Text()
        statuses = slo_statuses(self.context.store, self.slos, self.now)  # and the store's
        if not statuses:
            t.append("no route has an SLO: add [routes.NAME.slo] to the config "
                     "(availability = 99.9, latency_ms = 2000)\n")
            return t
        for s in statuses:
            t.append(f"{s.route}", "bold")
            t.append(f"  over {s.window}" + ("   PAGING" if s.paging else "") + "\n",
                     "bold red" if s.paging else "")
            for o in s.objectives:
                left = "no requests yet" if o.budget_left is None else (
                    f"{o.budget_left * 100:.1f}% left")
                style = "bold red" if (o.budget_left or 0) < 0 else ""
                t.append(f"  {o.objective:<12} {o.goal:<18} ")
                t.append(budget_bar(o.budget_left), style or "green")
                t.append(f" {left}\n", style)
                t.append("    burn " + "  ".join(f"{w} {_burn(v)}" for w, v in o.burn.items())
                         + "\n")
                causes = ", ".join(f"{c.what} {c.n}" for c in o.causes)
                t.append(f"    burning it (1h): {causes or 'nothing'}\n")
                t.append("    alerts:")
                for a in o.alerts:
                    t.append(f" {a.policy} ")
                    t.append(a.state, _STATE_STYLE.get(a.state, "dim"))
                t.append("\n")
            t.append("\n")
        return t
