"""`axtui sim`: a fault-injecting upstream for rehearsing incidents (axtui/sim/)."""

from __future__ import annotations

from pathlib import Path

import typer

from axtui.cli.output import CliError

app = typer.Typer(help="A simulated upstream that injects faults from a scenario file.",
                  no_args_is_help=True)


def _load(scenario: str | None, protocol: str | None, model: str | None):  # -> Scenario
    from axtui.sim.scenario import (
        PROTOCOLS,
        ScenarioError,
        find_scenario,
        load_scenario,
        single_upstream,
        with_protocol,
    )

    if protocol is not None and protocol not in PROTOCOLS:
        raise CliError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    try:
        if scenario is None:
            return single_upstream(protocol or "openai", model)
        loaded = load_scenario(find_scenario(scenario))
        return with_protocol(loaded, protocol) if protocol else loaded
    except ScenarioError as e:
        raise CliError("\nerror: ".join(e.problems)) from None  # one line a problem


@app.command("serve")
def serve(
    scenario: str | None = typer.Option(
        None, "--scenario", "-s",
        help="scenario TOML file, or a bundled one by name (one_provider_down, ...); "
             "default: one healthy upstream"),
    protocol: str | None = typer.Option(
        None, "--protocol", help="openai | anthropic | gemini | cohere: every upstream speaks "
                                 "it (default: each upstream's own; openai without a scenario)"),
    model: str | None = typer.Option(None, "--model", help="without a scenario: the model name"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8700, "--port", min=0, max=65535, help="0 picks a free port"),
    seed: int | None = typer.Option(None, "--seed", help="default: the scenario's seed"),
    json_out: bool = typer.Option(False, "--json",
                                  help="print the URLs as one JSON line on stdout once listening"),
) -> None:
    """Serve simulated upstreams (/u/<name>/...) and the control endpoint (/_sim/...)."""
    import orjson

    from axtui.sim.server import serve as run

    sc = _load(scenario, protocol, model)

    def announce(root: str, urls: dict[str, str]) -> None:
        if json_out:  # one line, flushed: a script reads it as the sign the sim is up
            typer.echo(orjson.dumps({"url": root, "scenario": sc.name,
                                     "control": root + "/_sim/state", "upstreams": urls}))
            return
        typer.echo(f"axtui sim: {root} · scenario {sc.name!r} · control {root}/_sim/state",
                   err=True)
        for u in sc.upstreams:
            n = len(sc.faults_for(u.name))
            typer.echo(f"  {u.name}: {urls[u.name]} ({u.protocol}, {u.model}, {n} faults)",
                       err=True)

    try:
        code = run(sc, host, port, seed=seed, on_bound=announce)
    except OSError as e:
        raise CliError(str(e)) from None
    if code:
        raise CliError("the sim did not start (see the error above)", 1)


@app.command("check")
def check(
    scenario: Path = typer.Argument(..., help="scenario TOML file (or a bundled name)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Validate a scenario file and show its upstreams and faults."""
    from axtui.cli.output import emit_json, table

    sc = _load(str(scenario), None, None)
    if json_out:
        emit_json({"name": sc.name, "source": sc.source, **sc.model_dump(mode="json"),
                   "faults": [f.as_json() for f in sc.faults]})
        return
    typer.echo(f"{sc.name}: {sc.scenario.description} ({sc.scenario.duration_s:g} s, "
               f"seed {sc.scenario.seed})")
    typer.echo(table([(u.name, u.protocol, u.model, f"{u.latency_ms:g}") for u in sc.upstreams],
                     ["upstream", "protocol", "model", "latency ms"], right={3}))
    if sc.faults:
        rows = [(f.upstream, f.kind, f"{f.start_s:g}", "end" if f.end_s is None else
                 f"{f.end_s:g}", f"{f.rate:g}") for f in sc.faults]
        typer.echo(table(rows, ["upstream", "fault", "from s", "to s", "rate"], right={2, 3, 4}))
