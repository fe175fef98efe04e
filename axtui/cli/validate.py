"""`axtui providers validate [NAME]`: probe deployments with tiny real requests and report
where the catalog's capabilities differ from what the upstream actually does.

Exit codes: 0 every deployment reachable and no drift, 1 drift or an unreachable
deployment, 2 bad input (unknown name, bad config).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from axtui.cli.output import CliError, emit_json, ms, table

if TYPE_CHECKING:
    from axtui.cli.probe import Probe, ProbeResult

_WORKS = {
    "streaming": "streams fine",
    "tools": "makes forced tool calls",
    "json": "answers JSON objects in JSON mode",
}
_CELL = {"supported": "yes", "unsupported": "no", "not_probed": "–"}


def validate(
    name: str | None = typer.Argument(None, help="a provider or a deployment (default: all)"),
    config: Path | None = typer.Option(None, "--config", "-c"),
    json_out: bool = typer.Option(False, "--json"),
    timeout: float = typer.Option(20.0, "--timeout", min=0.1, help="seconds per probe request"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="deployments at once"),
) -> None:
    """Probe each deployment (completion, streaming, tools, JSON mode) and report drift from
    the catalog's claimed capabilities; exit 1 on drift or an unreachable deployment."""
    from axtui.cli.probe import probe_all, select_deployments
    from axtui.clock import RealClock, VirtualClock
    from axtui.config import load_config

    cfg = load_config(config)
    names = [name] if name else None
    try:
        specs = select_deployments(cfg, names)
    except ValueError as e:
        raise CliError(str(e)) from None
    # Simulated upstreams sleep on the clock: in virtual time their probes take no time.
    simulated = all(cfg.providers[s.provider].protocol == "sim" for s in specs)
    if simulated:
        clock = VirtualClock(start=time.time())
        results = clock.run(
            probe_all(cfg, names, clock=clock, concurrency=concurrency, timeout_s=timeout)
        )
    else:
        results = asyncio.run(
            probe_all(cfg, names, clock=RealClock(), concurrency=concurrency, timeout_s=timeout)
        )
    failed = any(r.has_drift or not r.reachable for r in results)
    if json_out:
        emit_json(
            {
                "ok": not failed,
                "simulated": simulated,
                "drift": [r.deployment for r in results if r.has_drift],
                "unreachable": [r.deployment for r in results if not r.reachable],
                "deployments": [r.to_json() for r in results],
            }
        )
    else:
        typer.echo(_report(results, simulated))
    if failed:
        # SystemExit exits 1 however the app is invoked (click in standalone_mode=False
        # returns typer.Exit's code rather than exiting with it)
        raise SystemExit(1)


def _cell(p: Probe) -> str:
    if p.status.value == "error":
        return f"? {p.error_kind.value}" if p.error_kind else "?"
    return _CELL[p.status.value]


def _drift_cell(r: ProbeResult) -> str:
    marks = [f"+{c}" for c in r.working_but_unclaimed] + [f"-{c}" for c in r.claimed_but_missing]
    return " ".join(marks) or ("–" if not r.reachable else "none")


def _report(results: list[ProbeResult], simulated: bool) -> str:
    rows = []
    for r in results:
        kind = r.completion.error_kind
        reach = (
            f"yes {ms(r.completion.latency_ms)}"
            if r.reachable
            else (f"no ({kind.value})" if kind else "no")
        )
        caps = r.capabilities
        rows.append(
            (
                r.deployment,
                reach,
                _cell(caps["streaming"]),
                _cell(caps["tools"]),
                _cell(caps["json"]),
                _drift_cell(r),
            )
        )
    lines = [table(rows, ["deployment", "reachable", "streaming", "tools", "json", "drift"])]
    notes = []
    for r in results:
        if not r.reachable:
            notes.append(f"{r.deployment} is unreachable: {r.completion.detail}")
            continue
        for c in r.working_but_unclaimed:
            notes.append(
                f"{r.deployment} {_WORKS[c]} but the catalog does not claim {c}: "
                "add it to capabilities (or roll it out behind a flag)"
            )
        for c in r.claimed_but_missing:
            notes.append(
                f"{r.deployment} is claimed to support {c} but it "
                f"{r.capabilities[c].detail}: remove {c} from its capabilities, or "
                f"requests needing {c} will fail there"
            )
        if r.has_drift:
            notes.append(
                f"  suggested for {r.deployment}: capabilities = "
                + "["
                + ", ".join(f'"{c}"' for c in r.suggested_capabilities())
                + "]"
            )
        for c in r.inconclusive:
            notes.append(f"{r.deployment}: could not check {c}: {r.capabilities[c].detail}")
    if notes:
        lines += ["", *notes]
    drift = sum(r.has_drift for r in results)
    down = sum(not r.reachable for r in results)
    lines.append("")
    lines.append(
        f"{len(results)} deployment(s) probed: {drift} with drift, {down} unreachable"
        + (" (simulated upstreams, virtual time)" if simulated else "")
        + "; vision and reasoning are not probed"
    )
    return "\n".join(lines)
