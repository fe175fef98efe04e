"""`axtui agents list|show|stop`: the long-running agents that checkpoint to the store (see
axtui/agents). Exit 1 when an agent shown has crashed (its heartbeat stopped without a final
state), so a cron job can alert on it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json, table

app = typer.Typer(help="Long-running agents: status, steps, spend, checkpoints.",
                  no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="config (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json")


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _read(store_url: str | None, config: Path | None, agent_id: str | None):
    """(views, latest checkpoint of `agent_id`) read in one transaction."""
    import time

    from axtui.agents import process_alive
    from axtui.cli.common import open_cli_store
    from axtui.store import agents as rows

    st = open_cli_store(store_url, config, existing=True)
    try:
        with st.read() as conn:
            now = time.time()
            if agent_id is None:
                return rows.read_agents(conn, now, process_alive), None
            view = rows.read_agent(conn, agent_id, now, process_alive)
            if view is None:
                known = [v.id for v in rows.read_agents(conn, now)]
                listed = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
                raise CliError(f"no agent {agent_id!r}; agents: {listed or '(none yet)'}")
            return [view], rows.latest_checkpoint(conn, agent_id)
    finally:
        st.close()


def _verdict(views) -> None:
    if any(v.status == "crashed" for v in views):
        raise typer.Exit(1)


@app.command("list")
def list_agents(config: Path | None = _CONFIG, store: str | None = _STORE,
                json_out: bool = _JSON) -> None:
    """Every agent, newest first: status, steps, spend, budget left, last checkpoint."""
    from axtui.units import DASH, duration, usd

    views, _ = _read(store, config, None)
    if json_out:
        emit_json([v.describe() for v in views])
        _verdict(views)
        return
    if not views:
        typer.echo("no agents in this store (an axtui.agents.Agent writes one when it starts)")
        return
    typer.echo(table([
        (v.id, v.status, v.run, v.steps, usd(v.cost_nano, 6),
         usd(v.budget_left_nano, 6) if v.budget_nano is not None else DASH,
         duration(v.runtime_s), _when(v.checkpoint_at), v.deployment or DASH,
         v.stop_reason or DASH)
        for v in views], ["id", "status", "run", "steps", "cost", "budget left", "runtime",
                          "last checkpoint", "deployment", "stop reason"], right={2, 3, 4, 5}))
    _verdict(views)


@app.command("show")
def show(agent_id: str = typer.Argument(..., metavar="ID"), config: Path | None = _CONFIG,
         store: str | None = _STORE, json_out: bool = _JSON) -> None:
    """One agent: its limits, totals, the deployments it used, its last checkpoint."""
    import orjson

    from axtui.units import DASH, duration, pct, usd

    (v,), cp = _read(store, config, agent_id)
    if json_out:
        emit_json({**v.describe(), "checkpoint": None if cp is None else {
            "at": cp.at, "run": cp.run, "step": cp.step, "progress": cp.progress,
            "final": cp.final, "by_deployment": cp.by_deployment, "state": cp.state}})
        _verdict([v])
        return
    stop = f"{v.stop_reason}{': ' + v.stop_detail if v.stop_detail else ''}" if v.stop_reason \
        else DASH
    lines = [
        ("status", v.status + (f" (heartbeat {duration(v.heartbeat_age_s)} ago)"
                               if v.status in ("running", "crashed") else "")),
        ("run", f"{v.run} (pid {v.pid} on {v.host})"),
        ("steps", f"{v.steps} ({v.failed_steps} failed)"
                  + (f" of {v.step_limit}" if v.step_limit else "")),
        ("cost", usd(v.cost_nano, 6)),
        ("budget", DASH if v.budget_nano is None
         else f"{usd(v.budget_nano, 6)} ({usd(v.budget_left_nano, 6)} left)"),
        ("runtime", duration(v.runtime_s) + (f" of {duration(v.runtime_limit_s)}"
                                             if v.runtime_limit_s else "")),
        ("progress", pct(cp.progress) if cp is not None else DASH),
        ("last checkpoint", f"{_when(v.checkpoint_at)} ({v.checkpoints} taken)"),
        ("stop reason", stop),
        ("state", DASH if cp is None else f"{len(orjson.dumps(cp.state))} bytes of JSON"),
    ]
    width = max(len(k) for k, _ in lines)
    for k, val in lines:
        typer.echo(f"{k.ljust(width)}  {val}")
    if cp is not None and cp.by_deployment:
        typer.echo("")
        typer.echo(table([(d, n.get("attempts", 0), n.get("ok", 0), usd(n["cost_nano"], 6))
                          for d, n in sorted(cp.by_deployment.items())],
                         ["deployment", "attempts", "ok", "cost"], right={1, 2, 3}))
    _verdict([v])


@app.command("stop")
def stop(agent_id: str = typer.Argument(..., metavar="ID"),
         reason: str = typer.Option("requested by an operator", "--reason"),
         config: Path | None = _CONFIG, store: str | None = _STORE,
         json_out: bool = _JSON) -> None:
    """Ask a running agent to stop; it does at its next checkpoint, writing a final one."""
    from axtui.cli.common import open_cli_store
    from axtui.store import agents as rows
    from axtui.units import duration

    (v,), _ = _read(store, config, agent_id)
    if v.status != "running":
        raise CliError(f"agent {agent_id!r} is {v.status}: only a running agent can be stopped")
    st = open_cli_store(store, config, existing=True)
    try:
        with st.begin() as conn:
            asked = rows.request_stop(conn, agent_id, reason)
    finally:
        st.close()
    if not asked:
        raise CliError(f"agent {agent_id!r} stopped meanwhile")
    if json_out:
        emit_json({"id": agent_id, "stop_requested": reason})
        return
    typer.echo(f"asked agent {agent_id} to stop at its next checkpoint "
               f"(every {duration(v.checkpoint_every_s)}): {reason}")
