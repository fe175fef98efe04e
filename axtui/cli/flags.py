"""`axtui flags ...`: flags and progressive rollouts from a script or a shell. Every change
goes through `axtui.flags.ops.change` (the guardrails' one home) and is audited.

Exit codes: 0 ok (validate: go), 1 refused by a guardrail (validate: no-go), 2 bad input,
3 validate: inconclusive, 4 conflict (another change landed first; nothing was written).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.output import CliError, emit_json, table

app = typer.Typer(help="Feature flags: sticky cohorts, guarded rollouts, gates, kill switch.",
                  no_args_is_help=True)

VERDICT_EXIT = {"go": 0, "no-go": 1, "inconclusive": 3}

_CONFIG = typer.Option(None, "--config", "-c", help="config file (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_BY = typer.Option(None, "--by", help="who is making the change (default: $USER)")
_REASON = typer.Option(None, "--reason", "-r", help="why (required for kill and --force)")
_FORCE = typer.Option(False, "--force", help="override a guardrail (needs --reason; audited)")


def operator(by: str | None) -> str:
    return by or os.environ.get("USER") or os.environ.get("LOGNAME") or "cli"


def _open(store: str | None, config: Path | None):
    """(config, store) with the config's flags seeded into the store if it lacks them."""
    from axtui.config import load_config
    from axtui.flags.ops import seed

    cfg = load_config(config)
    st = open_cli_store(store, config)
    seed(st, cfg)
    return cfg, st


def _state(st, name: str):
    from axtui.flags.ops import FlagError, get_flag

    try:
        return get_flag(st, name)[0]
    except FlagError as e:
        raise CliError(e.message, e.code) from None


def _env_label(name: str) -> str | None:
    from axtui.flags.model import EnvOverrides

    ov = EnvOverrides.read().get(name)
    return None if ov is None else ov.label


def _effect(state) -> str:
    e = state.definition.effect
    if e.kind == "capability":
        where = f" on {e.route}" if e.route else ""
        return f"{e.deployment} gets {e.capability}{where}"
    to = e.deployment or ", ".join(f"{v.name}={v.deployment}×{v.weight:g}" for v in e.variants)
    return f"{e.route} → {to}" + (" only" if e.kind == "force" else "")


def _summary(state) -> dict:
    label = _env_label(state.name)
    return {**state.model_dump(mode="json"), "effective_pct": state.effective_pct,
            "env_override": label, "next_step": state.next_step()}


def _apply(store_url, config, name, *, json_out: bool, **kw) -> None:
    from axtui.flags.ops import FlagError, Refused, change

    _, st = _open(store_url, config)
    try:
        r = change(st, name, **kw)
    except FlagError as e:
        if json_out:
            out: dict = {"error": e.message, "code": e.code}
            if isinstance(e, Refused):
                out["violations"] = [v.model_dump() for v in e.violations]
                out["verdict"] = e.verdict
            emit_json(out)
        raise CliError(e.message, e.code) from None
    if json_out:
        emit_json(r)
        return
    if not r.changed:
        typer.echo(f"{name}: unchanged ({r.note})")
        return
    frm = "new" if r.from_pct is None else f"{r.from_pct:g}%"
    typer.echo(f"{name}: {r.action} {frm} → {r.to_pct:g}% (control version {r.version})")
    for v in r.overridden:
        typer.echo(f"  FORCED past {v.rule}: {v.message}")
    label = _env_label(name)
    if label is not None:
        typer.echo(f"  note: this process has env override {label}")


@app.command("list")
def list_(config: Path | None = _CONFIG, store: str | None = _STORE,
          json_out: bool = _JSON) -> None:
    """Every flag: effect, state (env overrides shown as such), next ladder step, owner."""
    from axtui.flags.ops import list_flags
    from axtui.flags.report import status

    _, st = _open(store, config)
    flags = list_flags(st)
    if json_out:
        emit_json({"flags": [_summary(f) for f in flags]})
        return
    rows = [(f.name, f.definition.effect.kind, _effect(f), status(f, _env_label(f.name)),
             "" if f.next_step() is None else f"{f.next_step():g}%", f.definition.owner)
            for f in flags]
    typer.echo(table(rows, ["flag", "kind", "effect", "state", "next", "owner"]) if rows
               else "no flags")


@app.command("show")
def show(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
         json_out: bool = _JSON) -> None:
    """One flag: definition, state, kill, env override, and drift from the config."""
    from axtui.flags.report import status, when

    cfg, st = _open(store, config)
    f = _state(st, name)
    in_config = cfg.flags.get(name)
    drift = in_config is not None and in_config != f.definition
    if json_out:
        emit_json({**_summary(f), "config_differs": drift})
        return
    d = f.definition
    typer.echo(f"{name}: {status(f, _env_label(name))}  ({d.effect.kind}: {_effect(f)})")
    for label, value in (("description", d.description), ("owner", d.owner),
                         ("expected", d.expected_impact)):
        if value:
            typer.echo(f"  {label:12} {value}")
    typer.echo(f"  {'stickiness':12} {d.stickiness}, then the other id, else per request; "
               f"salt {f.salt!r}")
    if d.ladder:
        typer.echo(f"  {'ladder':12} " + " → ".join(f"{p:g}" for p in d.ladder))
    g = d.guardrails
    typer.echo(f"  {'guardrails':12} step ×{g.max_step_factor:g}, canary {g.canary_pct:g}%, "
               f"dwell {g.dwell_s:g}s, rollback "
               + (f"after {g.rollback_after} failed gates → {g.rollback_to}"
                  if g.rollback_after else "off"))
    typer.echo(f"  {'changed':12} {when(f.last_change_at)} (previous {f.previous_pct:g}%)")
    if f.killed:
        typer.echo(f"  {'KILLED':12} by {f.killed.by} at {when(f.killed.at)}: {f.killed.reason}")
    if drift:
        typer.echo("  note: the config defines this flag differently; the store's wins")


@app.command("create")
def create(
    name: str,
    kind: str = typer.Option(..., "--kind", help="capability | split | force"),
    route: str | None = typer.Option(None, "--route"),
    deployment: str | None = typer.Option(None, "--deployment", "-d"),
    capability: str | None = typer.Option(None, "--capability"),
    pct: float = typer.Option(0.0, "--pct", help="starting percentage (at most the canary)"),
    ladder: str = typer.Option("", "--ladder", help="planned steps, e.g. 1,5,10,25,50,100"),
    description: str = typer.Option("", "--description"),
    owner: str = typer.Option("", "--owner"),
    impact: str = typer.Option("", "--impact", help="expected impact"),
    stickiness: str = typer.Option("user", "--stickiness", help="user | key"),
    dwell: float | None = typer.Option(None, "--dwell", help="seconds between increases"),
    rollback_after: int | None = typer.Option(None, "--rollback-after",
                                              help="auto-rollback after N failed gates"),
    config: Path | None = _CONFIG, store: str | None = _STORE, by: str | None = _BY,
    reason: str | None = _REASON, force: bool = _FORCE, json_out: bool = _JSON,
) -> None:
    """Define a new flag in the store (checked against the config's routes and deployments)."""
    from pydantic import ValidationError

    from axtui.config import FlagConfig, load_config
    from axtui.flags.ops import FlagError, check_definition

    try:
        steps = [float(s) for s in ladder.split(",") if s.strip()]
    except ValueError:
        raise CliError(f"--ladder: expected numbers separated by commas, not {ladder!r}") from None
    guard: dict = {}
    if dwell is not None:
        guard["dwell_s"] = dwell
    if rollback_after is not None:
        guard["rollback_after"] = rollback_after
    effect = {k: v for k, v in {"kind": kind, "route": route, "deployment": deployment,
                                "capability": capability}.items() if v is not None}
    try:
        definition = FlagConfig.model_validate({
            "description": description, "owner": owner, "expected_impact": impact,
            "pct": pct, "stickiness": stickiness, "effect": effect, "ladder": steps,
            "guardrails": guard})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CliError(f"{where or 'flag'}: {err['msg'].removeprefix('Value error, ')}") from None
    try:
        check_definition(load_config(config), name, definition)
    except FlagError as e:
        raise CliError(e.message, e.code) from None
    _apply(store, config, name, json_out=json_out, action="create", definition=definition,
           by=operator(by), reason=reason, force=force)


@app.command("rollout")
def rollout(name: str, pct: float = typer.Argument(..., help="0-100, one decimal"),
            config: Path | None = _CONFIG, store: str | None = _STORE, by: str | None = _BY,
            reason: str | None = _REASON, force: bool = _FORCE, json_out: bool = _JSON) -> None:
    """Set the percentage: decreases at once; increases pass step, dwell and gates."""
    _apply(store, config, name, json_out=json_out, action="rollout", pct=pct, by=operator(by),
           reason=reason, force=force)


@app.command("advance")
def advance(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
            by: str | None = _BY, reason: str | None = _REASON, force: bool = _FORCE,
            json_out: bool = _JSON) -> None:
    """Take the next ladder step, if the guardrails and gates allow it."""
    _apply(store, config, name, json_out=json_out, action="advance", by=operator(by),
           reason=reason, force=force)


@app.command("kill")
def kill(name: str, reason: str | None = _REASON, config: Path | None = _CONFIG,
         store: str | None = _STORE, by: str | None = _BY, json_out: bool = _JSON) -> None:
    """0% at once for every engine sharing the store; increases blocked until revived."""
    _apply(store, config, name, json_out=json_out, action="kill", by=operator(by),
           reason=reason)


@app.command("revive")
def revive(name: str, reason: str | None = _REASON, config: Path | None = _CONFIG,
           store: str | None = _STORE, by: str | None = _BY, json_out: bool = _JSON) -> None:
    """Lift a kill (the flag stays at 0%; the next step is a canary)."""
    _apply(store, config, name, json_out=json_out, action="revive", by=operator(by),
           reason=reason)


@app.command("disable")
def disable(name: str, reason: str | None = _REASON, config: Path | None = _CONFIG,
            store: str | None = _STORE, by: str | None = _BY, json_out: bool = _JSON) -> None:
    """Switch a flag off, keeping its percentage for a later enable."""
    _apply(store, config, name, json_out=json_out, action="disable", by=operator(by),
           reason=reason)


@app.command("enable")
def enable(name: str, reason: str | None = _REASON, config: Path | None = _CONFIG,
           store: str | None = _STORE, by: str | None = _BY, force: bool = _FORCE,
           json_out: bool = _JSON) -> None:
    """Switch a disabled flag back on (an increase: the guardrails apply)."""
    _apply(store, config, name, json_out=json_out, action="enable", by=operator(by),
           reason=reason, force=force)


# ------------------------------------------------------------------ verdicts and reports


@app.command("validate")
def validate(
    name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
    watch: bool = typer.Option(False, "--watch", help="re-evaluate on an interval and roll "
                               "back when the flag's rollback_after is reached"),
    interval: float = typer.Option(60.0, "--interval", min=0.05, help="seconds between checks"),
    count: int = typer.Option(0, "--count", min=0, help="with --watch: stop after N (0: never)"),
    by: str | None = _BY, json_out: bool = _JSON,
) -> None:
    """The gates' verdict now: exit 0 go, 1 no-go, 3 inconclusive."""
    from axtui.flags.gates import evaluate_gates
    from axtui.flags.ops import AUTO_BY, FlagError, watch_once
    from axtui.flags.report import render_report

    _, st = _open(store, config)
    if not watch:
        f = _state(st, name)
        r = evaluate_gates(st, f, st.clock.now())
        emit_json(r) if json_out else typer.echo("\n".join(render_report(r)))
        raise typer.Exit(VERDICT_EXIT[r.verdict])
    verdict, n = "inconclusive", 0
    try:
        while True:
            try:
                res = watch_once(st, name, by=by or AUTO_BY)
            except FlagError as e:
                raise CliError(e.message, e.code) from None
            verdict = res.verdict.verdict if res.verdict else "inconclusive"
            if json_out:
                emit_json(res)
            else:
                nums = "; ".join(res.verdict.reasons) if res.verdict else res.note
                typer.echo(f"{time.strftime('%H:%M:%S')} {name} {res.state.pct:g}%: {verdict}"
                           f" ({nums})" + (f" → ROLLED BACK to {res.to_pct:g}%"
                                           if res.action == "rollback" else ""))
            n += 1
            if count and n >= count:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    raise typer.Exit(VERDICT_EXIT[verdict])


@app.command("report")
def report(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
           since_min: float | None = typer.Option(None, "--since-min", min=0.0,
                                                  help="window in minutes (default: since "
                                                       "the last change)"),
           json_out: bool = _JSON) -> None:
    """Cohort vs baseline: latency, errors, cost and savings, counts, observed split."""
    from axtui.flags.gates import evaluate_gates
    from axtui.flags.report import render_report

    _, st = _open(store, config)
    f = _state(st, name)
    now = st.clock.now()
    r = evaluate_gates(st, f, now, since=None if since_min is None else now - since_min * 60)
    emit_json(r) if json_out else typer.echo("\n".join(render_report(r)))


@app.command("history")
def history(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
            limit: int = typer.Option(50, "--limit", "-n", min=1),
            json_out: bool = _JSON) -> None:
    """The flag's audit log: who changed what, when, why, forced or not, with the numbers."""
    from axtui.flags.report import when

    _, st = _open(store, config)
    _state(st, name)
    events = st.events(kind="flag", subject=name, limit=limit)
    if json_out:
        emit_json({"flag": name, "events": events})
        return
    for e in reversed(events):
        typer.echo(event_line(e, when))


def event_line(e, when) -> str:
    d = e.detail
    frm = "new" if d.get("from") is None else f"{d['from']:g}%"
    to = d.get("to") or 0
    line = f"{when(e.ts)}  {d.get('action', e.kind):8} {frm} → {to:g}%  by {d.get('by')}"
    if d.get("forced"):
        line += "  FORCED"
    if d.get("reason"):
        line += f"  ({d['reason']})"
    if "verdict" in d:
        line += f"  [gates {d['verdict']['verdict']}]"
    return line


@app.command("schedule")
def schedule_(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
              json_out: bool = _JSON) -> None:
    """The earliest time for each remaining ladder step (if every gate passes)."""
    from axtui.flags.guardrails import schedule
    from axtui.flags.report import render_schedule

    _, st = _open(store, config)
    f = _state(st, name)
    steps = schedule(f, st.clock.now())
    if json_out:
        emit_json({"flag": name, "pct": f.pct, "steps": steps})
        return
    typer.echo("\n".join(render_schedule(f, steps)))
