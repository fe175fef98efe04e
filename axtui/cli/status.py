"""`axtui monitor status`: the snapshot the console renders, as text or JSON."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def window_seconds(text: str) -> float:
    """`90s`, `5m`, `1h`, `7d` in seconds."""
    t = text.strip().lower()
    if len(t) < 2 or t[-1] not in _UNITS:
        raise ValueError(f"{text!r} is not a duration like 90s, 5m, 1h or 7d")
    try:
        n = float(t[:-1])
    except ValueError:
        raise ValueError(f"{text!r} is not a duration like 90s, 5m, 1h or 7d") from None
    if not n > 0 or n != n:
        raise ValueError(f"{text!r} must be positive")
    return n * _UNITS[t[-1]]


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
    from axtui.config import load_config
    from axtui.snapshot.build import SnapshotBuilder
    from axtui.snapshot.text import render

    try:
        window_s = window_seconds(window)
    except ValueError as e:
        raise CliError(f"--window: {e}") from None
    if not 60 <= window_s <= 86400:
        raise CliError(f"--window: {window!r} is out of range (1m to 24h)")
    cfg = load_config(config)
    st = open_cli_store(store, config) if store is None else open_cli_store(store)
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
