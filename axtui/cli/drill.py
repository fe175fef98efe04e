"""`axtui drill SCENARIO`: rehearse an incident end to end and check the scenario's targets."""

from __future__ import annotations

from pathlib import Path

import typer

from axtui.cli.output import CliError


def drill(
    scenario: str = typer.Argument(..., help="a scenario file, or a bundled scenario's name "
                                   "(one_provider_down, rate_limit_storm, ...)"),
    json_out: bool = typer.Option(False, "--json", help="the whole report as JSON"),
    seed: int | None = typer.Option(None, "--seed", help="seed for faults and the load's "
                                    "stream/plain mix (default: the scenario's)"),
    duration: float | None = typer.Option(None, "--duration", min=1.0,
                                          help="seconds of load (default: the scenario's)"),
    strategy: str = typer.Option("priority", "--strategy",
                                 help="the drill route's strategy: priority (the first upstream "
                                      "while it serves), latency, round_robin, ..."),
    rps: float | None = typer.Option(None, "--rps", min=0.1,
                                     help="requests per second (default: the scenario's)"),
    baseline: float = typer.Option(0.0, "--baseline", min=0.0,
                                   help="first send this many seconds of the same load straight "
                                        "to the sim (faults off): p99 overhead is then against "
                                        "it"),
    kill_at: float | None = typer.Option(None, "--kill-at", min=0.0,
                                         help="SIGKILL the gateway this many seconds into "
                                              "the load (records lost under kill -9)"),
    alert_interval: float = typer.Option(1.0, "--alert-interval", min=0.5, max=3600.0,
                                         help="seconds between the gateway's alert "
                                              "evaluations (1: fault-to-alert times to the "
                                              "second; the evaluation runs in the serving "
                                              "process, 15 is the config's default)"),
    keep: Path | None = typer.Option(None, "--keep", help="keep the scratch store, gateway "
                                     "config and logs in this directory"),
) -> None:
    """Rehearse an incident from a scenario file and check its targets.

    Starts the scenario's simulated upstreams and a gateway on a scratch store, drives paced
    load through the openai SDK, and reports what callers saw, breaker and alert timing,
    failovers, upstream calls per second and records lost. Exit 1 when a target is missed."""
    try:
        import openai  # noqa: F401
    except ImportError:
        raise CliError("axtui drill drives load with the openai SDK: "
                       "pip install 'axtui[drill]'") from None
    from axtui.cli.output import emit_json
    from axtui.config import Strategy
    from axtui.drill.orchestrate import DrillOptions, run_drill
    from axtui.drill.processes import ProcessFailed
    from axtui.drill.report import render
    from axtui.sim.scenario import ScenarioError, find_scenario, load_scenario

    if strategy not in Strategy.__args__:  # type: ignore[attr-defined]
        raise CliError(f"--strategy {strategy!r}: expected one of "
                       f"{', '.join(Strategy.__args__)}")  # type: ignore[attr-defined]
    try:
        sc = load_scenario(find_scenario(scenario))
    except ScenarioError as e:
        raise CliError("; ".join(e.problems)) from None
    try:
        report = run_drill(sc, DrillOptions(seed=seed, duration_s=duration, keep_dir=keep,
                                             kill_at_s=kill_at, rps=rps,
                                             strategy=strategy, baseline_s=baseline,
                                             alert_interval_s=alert_interval))
    except ProcessFailed as e:
        raise CliError(f"the drill could not run: {e}", 1) from None
    if json_out:
        emit_json(report)
    else:
        typer.echo(render(report))
    if report["verdict"] != "pass":
        raise typer.Exit(1)
