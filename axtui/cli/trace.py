"""`axtui trace`: print request records as they land in the store (a live tail with
--follow). `--json` prints one record per line: the JSONL trace format replay reads."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.output import ms, usd
from axtui.records import RequestRecord


def format_record(r: RequestRecord) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(r.started_at))
    frac = f"{r.started_at % 1:.3f}"[1:]
    steps = []
    for a in r.attempts:
        steps.append(f"{a.deployment} {a.status or ''}".rstrip() if a.error_kind is None
                     else f"{a.deployment} {a.status or a.error_kind.value}")
    path = " → ".join(steps) or r.outcome.value
    tail = f"{ms(r.latency_ms)} {usd(r.cost_nano, 6)}"
    if r.error_kind:
        tail += f" {r.error_kind.value}"
    elif len(r.attempts) > 1:
        tail += " failover"
    who = f" {r.user}" if r.user else ""
    return f"{clock}{frac} {r.route}{who} → {path} {tail}"


def trace(
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new records"),
    route: str | None = typer.Option(None, "--route", "-r", help="only this route"),
    limit: int = typer.Option(20, "--limit", "-n", min=0, max=100_000,
                              help="how many recent records to show first"),
    store: str | None = typer.Option(None, "--store", help="store URL"),
    config: Path | None = typer.Option(None, "--config", "-c"),
    json_out: bool = typer.Option(False, "--json", help="one JSON record per line (JSONL)"),
    interval: float = typer.Option(0.25, "--interval", min=0.05, max=60,
                                   help="seconds between polls with --follow"),
) -> None:
    """Print recent request records, oldest first; with --follow, tail new ones."""
    st = open_cli_store(store, config)

    def show(r: RequestRecord) -> None:
        typer.echo(r.model_dump_json() if json_out else format_record(r))

    cursor = st.latest_cursor()
    for r in reversed(st.recent_records(route=route, limit=limit) if limit else []):
        show(r)
    if not follow:
        return
    try:
        while True:
            page = st.records_after(cursor, route=route)
            for r in page.records:
                show(r)
            cursor = page.cursor
            if not page.records:
                time.sleep(interval)
    except KeyboardInterrupt:
        return
