"""`axtui replay TRACE`: what a recorded trace saw (faithful), or what it would have seen
with another config, flag percentages or drains (counterfactual). See traces/replay/."""

from __future__ import annotations

from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json, ms, pct, table, usd


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        n = float(value)
    except ValueError:
        n = -1.0
    if not n > 0:
        raise CliError(f"--speed {value!r}: expected a positive number or 'max'")
    return n


def _flag_set(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            p = float(value.rstrip("%"))
        except ValueError:
            p = -1.0
        if not sep or not name or not 0 <= p <= 100:
            raise CliError(f"--set {item!r}: expected FLAG=PCT with PCT from 0 to 100")
        out[name] = p
    return out


def replay(
    trace: str = typer.Argument(..., help="a trace file (JSONL, gzip or not), or a bundled "
                                "trace's name: normal-day, provider-outage, rate-limit-storm"),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="config file (default: the bundled demo)"),
    mode: str = typer.Option("faithful", "--mode", help="faithful | counterfactual"),
    speed: str | None = typer.Option(None, "--speed", help="trace seconds per real second, "
                                     "or max (default: max; 60 with --tui)"),
    set_: list[str] = typer.Option([], "--set", help="counterfactual: FLAG=PCT (repeatable)"),
    drain: list[str] = typer.Option([], "--drain", help="counterfactual: drain DEPLOYMENT "
                                    "(repeatable)"),
    scenario: Path | None = typer.Option(None, "--scenario", help="counterfactual: extra "
                                         "outages, [[outages]] as in demo_incident.toml"),
    seed: int = typer.Option(7, "--seed", help="seed for the simulated providers and flags"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output; exit 1 "
                                  "if the replay fired a critical alert"),
    tui: bool = typer.Option(False, "--tui", help="play the replay in the console: space "
                             "pauses, n steps 15 s, + and - change the speed"),
    store: str | None = typer.Option(None, "--store", hidden=True,
                                     help="write the replay into this store (the console's)"),
    control: Path | None = typer.Option(None, "--control", hidden=True,
                                        help="a folder a console steers the replay through"),
) -> None:
    """Replay a recorded trace: the alert, breaker and gate timeline as it happened, or the same
    requests through the engine with another config, side by side with what was recorded."""
    from axtui.config import load_config
    from axtui.traces.jsonl import TraceSchemaError
    from axtui.traces.replay.counterfactual import ReplayInputError, load_scenario
    from axtui.traces.replay.run import ReplayOptions
    from axtui.traces.replay.run import replay as run_replay
    from axtui.traces.replay.writer import WriterChoiceError

    if mode not in ("faithful", "counterfactual"):
        raise CliError(f"--mode {mode!r}: expected faithful or counterfactual")
    if mode == "faithful" and (set_ or drain or scenario):
        raise CliError("--set, --drain and --scenario change what happens: use them with "
                       "--mode counterfactual")
    if tui and json_out:
        raise CliError("--tui plays the replay in the console; --json prints it: choose one")
    pace = _speed(speed or ("60" if tui else "max"))
    opts = ReplayOptions(trace=trace, config=load_config(config), mode=mode,
                         speed=pace, flags=_flag_set(set_), drains=list(drain),
                         seed=seed, store_url=store,
                         control_dir=str(control) if control else None)
    if tui:
        _play_in_console(opts, trace, config, mode, set_, drain, scenario)
        return
    if control is not None:  # the console's child: its quit is a SIGTERM, a clean end here
        import signal
        import sys

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if scenario is not None:
            opts.scenario = load_scenario(scenario)
        out = run_replay(opts)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise CliError(str(e) if isinstance(e, FileNotFoundError) and not e.filename
                       else f"cannot read {trace}: {e.strerror or e}") from None
    except (TraceSchemaError, ReplayInputError, WriterChoiceError) as e:
        raise CliError(str(e)) from None
    if json_out:
        emit_json(out)
        if out["critical_fired"]:
            raise typer.Exit(1)
        return
    _print(out)


def _play_in_console(opts, trace: str, config: Path | None, mode: str, set_: list[str],
                     drain: list[str], scenario: Path | None) -> None:
    """The replay in a child process, the console over its store (checked here first, so
    bad input is one line before the screen changes)."""
    from axtui.cli.console import replay_console
    from axtui.traces.jsonl import TraceSchemaError, read_header
    from axtui.traces.replay.counterfactual import load_scenario
    from axtui.traces.replay.run import resolve_trace

    try:
        path = resolve_trace(trace)
        read_header(path)
        if scenario is not None:
            load_scenario(scenario)
    except (FileNotFoundError, TraceSchemaError, ValueError) as e:
        raise CliError(str(e)) from None
    args = ["--mode", mode, "--seed", str(opts.seed)]
    if config is not None:
        args += ["--config", str(config)]
    args += [a for s in set_ for a in ("--set", s)] + [a for d in drain for a in ("--drain", d)]
    if scenario is not None:
        args += ["--scenario", str(scenario)]
    # a faithful replay has no engine to act on: the console's actions would change nothing
    replay_console(path, args, opts.config, opts.speed, readonly=mode == "faithful")


def _print(out: dict) -> None:
    t = out["trace"]
    bad = f"; {t['bad_lines']} bad lines skipped" if t["bad_lines"] else ""
    typer.echo(f"axtui replay ({out['mode']}): {t['path']}: {t['records']} records over "
               f"{out['window']['duration_s']:,.0f}s (schema {t['schema']}){bad}")
    for b in t["bad"]:
        typer.echo(f"  line {b['line']}: {b['reason']}")
    if t["bad_lines"] > len(t["bad"]):
        typer.echo(f"  ... and {t['bad_lines'] - len(t['bad'])} more")
    if out["mode"] == "faithful":
        _timeline(out["timeline"])
        _summary(out["summary"])
        if out["gates"]:
            typer.echo("\nflag gates over the trace: " + "; ".join(
                f"{name} {g['verdict']} (cohort {g['cohort']['requests']} vs baseline "
                f"{g['baseline']['requests']})" for name, g in out["gates"].items()))
        return
    p = out["profiles"]
    typer.echo(f"providers fitted from the trace: {len(p['fitted'])}"
               + (f"; on their catalog profile (never in the trace): {', '.join(p['catalog'])}"
                  if p["catalog"] else ""))
    ch = out["changes"]
    changes = [f"{k}={v:g}%" for k, v in ch["flags"].items()] + [f"drain {d}" for d in
                                                                   ch["drains"]]
    if ch["scenario"]:
        changes.append(f"{len(ch['scenario'])} scenario outage(s)")
    typer.echo("changes: " + (", ".join(changes) or "none (config and seed only)"))
    rec, cf = out["recorded"], out["counterfactual"]
    rs, cs = rec["summary"], cf["summary"]
    rows = [
        ("requests", rs["requests"], cs["requests"]),
        ("ok", pct(rs["ok"] / rs["requests"] if rs["requests"] else None),
         pct(cs["ok"] / cs["requests"] if cs["requests"] else None)),
        ("failed", rs["failed"], cs["failed"]),
        ("p50", ms(rs["p50_ms"]), ms(cs["p50_ms"])),
        ("p95", ms(rs["p95_ms"]), ms(cs["p95_ms"])),
        ("cost", usd(rs["cost_nano"], 4), usd(cs["cost_nano"], 4)),
        ("alerts fired", rec["alerts"]["fired"], cf["alerts"]["fired"]),
        ("breaker trips", rec["breakers"]["trips"], cf["breakers"]["trips"]),
    ]
    typer.echo("")
    typer.echo(table(rows, ["", "recorded", "counterfactual"], right={1, 2}))
    deps = sorted(set(rs["split"]) | set(cs["split"]))
    typer.echo("")
    typer.echo(table([(d, pct(rs["split"].get(d, 0.0)), pct(cs["split"].get(d, 0.0)))
                      for d in deps], ["served by", "recorded", "counterfactual"],
                     right={1, 2}))
    typer.echo(f"\ndifference: {out['difference']['line']}")
    if out["late_requests"]:
        typer.echo(f"{out['late_requests']} requests were sent after their recorded start "
                   "(they lasted longer than any before them)")
    if out["engine_errors"]:
        typer.echo(f"{out['engine_errors']} requests raised inside the engine (logged)")
    typer.echo("\ncounterfactual timeline:")
    _timeline(cf["timeline"], indent="  ")


def _timeline(moments: list[dict], indent: str = "") -> None:
    if not moments:
        typer.echo(f"{indent}no alert transitions or breaker trips")
        return
    for m in moments:
        what = f"alert {m['subject']} ({m['severity']})" if m["kind"] == "alert" else \
            f"{m['kind']} {m['subject']}"
        at = f"+{m['at_s']:.1f}s"
        typer.echo(f"{indent}{at:>9}  {what}: {m['from']} → {m['to']}  {m['detail']}")


def _summary(s: dict) -> None:
    typer.echo(f"\n{s['requests']} requests, ok {pct(s['ok'] / s['requests'] if s['requests'] else None)}, "
               f"p95 {ms(s['p95_ms'])}, spent {usd(s['cost_nano'], 4)}")
    rows = [(d["deployment"], d["attempts"], pct(d["success_rate"]), ms(d["p50_ms"]),
             ms(d["p95_ms"]), usd(d["cost_nano"], 4),
             ", ".join(f"{k} {v}" for k, v in d["errors"].items())) for d in s["deployments"]]
    typer.echo("")
    typer.echo(table(rows, ["deployment", "attempts", "ok", "p50", "p95", "cost", "errors"],
                     right={1, 2, 3, 4, 5}))
    rows = [(r["route"], r["requests"], pct(r["ok"] / r["requests"] if r["requests"] else None),
             r["failovers"], r["rejected"], ms(r["p95_ms"]), usd(r["cost_nano"], 4))
            for r in s["routes"]]
    typer.echo("")
    typer.echo(table(rows, ["route", "requests", "ok", "failovers", "rejected", "p95", "cost"],
                     right={1, 2, 3, 4, 5, 6}))
