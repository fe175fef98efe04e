"""`axtui monitor status`: the snapshot the console renders, as text or JSON."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json


def status(
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="config file (default: the bundled demo)"),
    store: str | None = typer.Option(None, "--store", help="store URL (default: the config's)"),
    window: str = typer.Option("5m", "--window", help="window of rates and percentiles: 1m..24h"),
    watch: bool = typer.Option(False, "--watch", help="print a new snapshot every --interval"),
    interval: float = typer.Option(2.0, "--interval", min=0.2, max=3600.0),
    count: int = typer.Option(0, "--count", min=0, help="with --watch: stop after N (0: never)"),
    json_out: bool = typer.Option(False, "--json", help="the whole snapshot as JSON"),
) -> None:
    """Everything the on-call engineer looks at, in one snapshot: pulse, deployments, alerts,
    flags, spend. Exit 1 when an alert fires."""
    from axtui.cli.common import open_cli_store
    from axtui.cli.status_text import render
    from axtui.config import load_config
    from axtui.snapshot.build import SnapshotBuilder
    from axtui.units import parse_duration

    try:
        window_s = parse_duration(window)
    except ValueError as e:
        raise CliError(f"--window: {e}") from None
    if not 60 <= window_s <= 86400:
        raise CliError(f"--window: {window!r} is out of range (1m to 24h)")
    cfg = load_config(config)
    st = open_cli_store(store, config, existing=True)
    builder = SnapshotBuilder(st, cfg, window_s=window_s)
    shown = 0
    firing = 0
    try:
        while True:
            snap = builder.build(time.time())
            firing = snap.pulse.firing_alerts
            if json_out:
                emit_json(snap.model_dump(mode="json"))
            else:
                if watch and shown:
                    typer.echo("\x1b[2J\x1b[H", nl=False)  # clear, like watch(1)
                typer.echo(render(snap))
            shown += 1
            if not watch or (count and shown >= count):
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        st.close()
    if firing:
        raise typer.Exit(1)
