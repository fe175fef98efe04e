"""`axtui slo list|show`: each route's SLO, the error budget left over its window, burn
rates over 5m..3d, what burned it in the last hour, and its burn alerts (as the evaluator in
the serving or demo process last wrote them). Exit 1 while a page-level burn alert fires."""

from __future__ import annotations

from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.output import CliError, emit_json, table

app = typer.Typer(help="SLOs: error budgets, burn rates and burn alerts per route.",
                  no_args_is_help=True)
_CONFIG = typer.Option(None, "--config", "-c", help="config file (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_AT = typer.Option(None, "--at", help="unix time to judge at (default: now)")


def _statuses(config: Path | None, store: str | None, route: str | None, at: float | None):
    import time

    from axtui.config import load_config
    from axtui.slo.status import known_slos, slo_statuses

    cfg = load_config(config)
    now = time.time() if at is None else at
    st = open_cli_store(store, config, existing=True)
    try:
        slos = known_slos(st, cfg.slos(), now)  # the store's too: what its evaluator judged
        if route is not None and route not in slos:
            if route not in cfg.routes:
                raise CliError(f"unknown route {route!r}; routes: "
                               f"{', '.join(sorted(cfg.routes))}")
            raise CliError(f"route {route!r} has no SLO ([routes.{route}.slo] in the config)")
        return slo_statuses(st, slos, now, None if route is None else [route])
    finally:
        st.close()


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _burn(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _alerts(o) -> str:
    firing = [f"{a.policy} {a.state}" for a in o.alerts if a.state in ("firing", "pending")]
    return ", ".join(firing) or "quiet"


def _verdict(statuses) -> int:
    return 1 if any(s.paging for s in statuses) else 0


def list_(config: Path | None = _CONFIG, store: str | None = _STORE, json_out: bool = _JSON,
          at: float | None = _AT) -> None:
    """Every route's SLO: budget left, burn over 1h and 5m, and alerts."""
    statuses = _statuses(config, store, None, at)
    if json_out:
        emit_json({"slos": [s.to_json() for s in statuses],
                   "paging": any(s.paging for s in statuses)})
    elif not statuses:
        typer.echo("no route has an SLO ([routes.NAME.slo] in the config)")
    else:
        rows = [(s.route, o.objective, o.goal, s.window, _pct(o.budget_left),
                 _burn(o.burn["1h"]), _burn(o.burn["5m"]), _alerts(o))
                for s in statuses for o in s.objectives]
        typer.echo(table(rows, ["ROUTE", "SLO", "GOAL", "WINDOW", "BUDGET LEFT", "BURN 1h",
                                "BURN 5m", "ALERTS"], right={4, 5, 6}))
    raise typer.Exit(_verdict(statuses))


def show(route: str = typer.Argument(..., help="a route with [routes.NAME.slo]"),
         config: Path | None = _CONFIG, store: str | None = _STORE, json_out: bool = _JSON,
         at: float | None = _AT) -> None:
    """One route's SLO: budget, burn over every window, what burns it, its alerts."""
    statuses = _statuses(config, store, route, at)
    s = statuses[0]
    if json_out:
        emit_json(s.to_json())
        raise typer.Exit(_verdict(statuses))
    typer.echo(f"route {s.route}: SLOs over a rolling {s.window}")
    for o in s.objectives:
        attained = "-" if o.attained_pct is None else f"{o.attained_pct:.3f}%"
        typer.echo(f"\n{o.objective}: {o.goal}")
        typer.echo(f"  requests {o.requests}, bad {o.bad}, attained {attained}, "
                   f"budget left {_pct(o.budget_left)}")
        typer.echo("  burn    " + "  ".join(f"{w} {_burn(v)}" for w, v in o.burn.items()))
        causes = ", ".join(f"{c.what} {c.n}" for c in o.causes) or "nothing"
        typer.echo(f"  burning it (last 1h): {causes}")
        rows = [(a.name, a.severity, a.state, _burn(a.value)) for a in o.alerts]
        typer.echo(table(rows, ["ALERT", "SEVERITY", "STATE", "BURN"], right={3}))
    raise typer.Exit(_verdict(statuses))


app.command("list")(list_)
app.command("show")(show)
