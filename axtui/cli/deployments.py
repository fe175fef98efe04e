"""`axtui deployments list|drain|undrain|history`: the deployment kill switch. A drain takes
a deployment out of every route of every engine sharing the store (within one control-plane
poll), with a reason, audited, until undrained."""

from __future__ import annotations

from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.flags import event_line, operator
from axtui.cli.output import CliError, emit_json, table

app = typer.Typer(help="Deployments: drain (kill) and undrain, with audit history.",
                  no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="config file (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_BY = typer.Option(None, "--by", help="who is making the change (default: $USER)")


def _known(cfg, deployment: str) -> None:
    ids = [d.id for d in cfg.deployments]
    if deployment not in ids:
        raise CliError(f"unknown deployment {deployment!r}; deployments: {', '.join(ids)}")


@app.command("list")
def list_(config: Path | None = _CONFIG, store: str | None = _STORE,
          json_out: bool = _JSON) -> None:
    """Every deployment: the routes that list it, and whether it is drained (who, why)."""
    from axtui.config import load_config
    from axtui.engine.control import drains
    from axtui.flags.report import when

    cfg = load_config(config)
    st = open_cli_store(store, config)
    drained = drains(st.control_snapshot())
    rows = []
    for d in cfg.deployments:
        routes = [name for name, r in cfg.routes.items() if d.id in r.candidates]
        rows.append({"deployment": d.id, "routes": routes, "drained": drained.get(d.id)})
    if json_out:
        emit_json({"deployments": rows})
        return
    out = []
    for r in rows:
        dr = r["drained"]
        state = "DRAINED" if dr else "serving"
        why = f"{dr.get('reason')} (by {dr.get('by')}, {when(dr.get('at'))})" if dr else ""
        out.append((r["deployment"], state, ",".join(r["routes"]), why))
    typer.echo(table(out, ["deployment", "state", "routes", "drained because"]))


@app.command("drain")
def drain(deployment: str,
          reason: str | None = typer.Option(None, "--reason", "-r", help="why (required)"),
          config: Path | None = _CONFIG, store: str | None = _STORE, by: str | None = _BY,
          json_out: bool = _JSON) -> None:
    """Take a deployment out of every route at once, until undrained."""
    from axtui.config import load_config
    from axtui.engine.control import drain as drain_deployment

    _known(load_config(config), deployment)
    if not (reason or "").strip():
        raise CliError("a drain needs --reason (it is audited)")
    st = open_cli_store(store, config)
    who = operator(by)
    version = drain_deployment(st, deployment, reason or "", by=who)
    if json_out:
        emit_json({"deployment": deployment, "drained": True, "reason": reason, "by": who,
                   "version": version})
        return
    typer.echo(f"{deployment}: drained ({reason}); every engine sharing the store applies it "
               f"within one poll")


@app.command("undrain")
def undrain(deployment: str, config: Path | None = _CONFIG, store: str | None = _STORE,
            by: str | None = _BY, json_out: bool = _JSON) -> None:
    """Put a drained deployment back into its routes."""
    from axtui.config import load_config
    from axtui.engine.control import undrain as undrain_deployment

    _known(load_config(config), deployment)
    st = open_cli_store(store, config)
    if not undrain_deployment(st, deployment, by=operator(by)):
        raise CliError(f"deployment {deployment!r} is not drained")
    if json_out:
        emit_json({"deployment": deployment, "drained": False})
        return
    typer.echo(f"{deployment}: back in its routes")


@app.command("history")
def history(deployment: str, config: Path | None = _CONFIG, store: str | None = _STORE,
            limit: int = typer.Option(50, "--limit", "-n", min=1),
            json_out: bool = _JSON) -> None:
    """Drains, undrains and flag changes that steer traffic to this deployment."""
    from axtui.config import load_config
    from axtui.flags.report import when

    _known(load_config(config), deployment)
    st = open_cli_store(store, config)
    events = [e for e in st.events(subject=deployment, limit=limit * 4)
              if e.kind in ("drain", "undrain")]
    events += [e for e in st.events(kind="flag", limit=10_000)
               if deployment in (e.detail.get("deployments") or [])]
    events = sorted(events, key=lambda e: (e.ts, e.id))[-limit:]
    if json_out:
        emit_json({"deployment": deployment, "events": events})
        return
    if not events:
        typer.echo(f"{deployment}: no drains and no flag changes recorded")
    for e in events:
        if e.kind == "flag":
            typer.echo(f"flag {e.subject}: {event_line(e, when)}")
        else:
            d = e.detail
            typer.echo(f"{when(e.ts)}  {e.kind:8} by {d.get('by')}"
                       + (f"  ({d['reason']})" if d.get("reason") else ""))
