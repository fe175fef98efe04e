"""`axtui serve`: the OpenAI-compatible HTTP gateway (the engine behind uvicorn); with
`--workers N`, a supervisor and N such processes on one port (axtui/gateway/workers.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from axtui.cli.output import CliError


def serve(
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="config file (default: the bundled demo)"),
    listen: str | None = typer.Option(None, "--listen",
                                      help="HOST:PORT (default: gateway.listen, 127.0.0.1:4000)"),
    store: str | None = typer.Option(None, "--store", help="store URL (default: the config's)"),
    trace_out: Path | None = typer.Option(None, "--trace-out",
                                          help="also append every record to this JSONL file"),
    grace: float | None = typer.Option(None, "--grace", min=0,
                                       help="seconds in-flight requests get on SIGTERM"),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="gateway processes sharing the port, the store and Redis"),
    worker_of: str | None = typer.Option(None, "--worker-of", hidden=True),
) -> None:
    """Serve the OpenAI API (POST /v1/chat/completions, GET /v1/models) until SIGTERM."""
    if workers == 1 or worker_of:  # a process that serves (the supervisor records nothing)
        from axtui.forkserver import prestart

        prestart()  # the recorder's forkserver imports the store while this process imports
    from axtui.cli.common import open_cli_store
    from axtui.config import Config, load_config
    from axtui.gateway.app import Gateway
    from axtui.gateway.keys import KeyProblem, config_keys
    from axtui.gateway.metrics import MetricsExporter
    from axtui.gateway.serve import parse_listen
    from axtui.gateway.serve import serve as run_server
    from axtui.gateway.workers import Seat, join_fleet, report_ready

    try:
        seat = Seat.parse(worker_of) if worker_of else None
    except ValueError as e:
        raise CliError(str(e)) from None
    def overrides(c: Config) -> Config:  # also applied to a reloaded file
        if grace is None:
            return c
        return c.model_copy(update={"gateway": c.gateway.model_copy(
            update={"shutdown_grace_s": grace})})

    cfg = overrides(load_config(config))
    listen = listen or cfg.gateway.listen
    url = store or cfg.store.url
    try:
        parse_listen(listen)
        config_keys(cfg)  # every key the config names must be in the environment
        MetricsExporter.from_config(cfg, url, os.environ)  # so must a metrics token it names
    except (ValueError, KeyProblem) as e:
        raise CliError(str(e)) from None
    open_cli_store(url).close()  # a bad URL fails here, in one line, not inside uvicorn
    if cfg.store.recorder == "process":  # so does a directory the handoff ring cannot use
        from axtui.store.handoff import RingError, check_dir

        try:
            check_dir(cfg.store.handoff_dir, url)
        except RingError as e:
            raise CliError(str(e)) from None
    source = str(config) if config else "demo.toml (bundled, simulated providers)"
    if workers > 1 and seat is None:
        _supervise(workers, listen=listen, url=url, config=config, trace_out=trace_out,
                   grace=cfg.gateway.shutdown_grace_s, source=source)
        return

    def announce(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"axtui serve: http://{shown}:{port}/v1 · config {source} · store {url}"
                   + (f" · trace {trace_out}" if trace_out else ""), err=True)

    def ready(gw: Gateway) -> None:
        if seat is not None:  # one worker speaks for all, once; the supervisor counts them
            if seat.index == 1 and seat.generation == 0:
                details(gw)
            report_ready(seat)
            return
        details(gw)

    def details(gw: Gateway) -> None:
        routes = ", ".join(sorted(gw.engine.routes))
        typer.echo(f"  routes (models): {routes}", err=True)
        if gw.keys.auth_required:
            typer.echo(f"  caller keys required ({len(gw.keys)} live)", err=True)
        else:
            typer.echo("  no caller keys configured: serving WITHOUT auth "
                       "(axtui keys create --name NAME turns auth on)", err=True)
        m = gw.metrics
        typer.echo("  metrics off" if m is None else
                   f"  metrics at /metrics ({'bearer token' if m.token else 'open'}; files in "
                   f"{m.path})", err=True)
        env = cfg.gateway.admin_token_env
        typer.echo("  admin API at /admin" if gw.admin_token else
                   f"  admin API off (set {env} to enable it)", err=True)

    # SIGHUP (or `axtui config reload`) re-reads the config file: see runtime/reload.py
    gateway = Gateway(cfg, store_url=url, trace_path=trace_out, on_ready=ready,
                      config_path=config, reload_on_sighup=True, adjust_config=overrides)
    try:
        sock = join_fleet(seat) if seat is not None else None
        code = run_server(gateway, listen, on_bound=announce, sock=sock)
    except OSError as e:
        raise CliError(str(e)) from None
    if code:
        raise CliError("the gateway did not start (see the error above)", 1)


def _supervise(workers: int, *, listen: str, url: str, config: Path | None,
               trace_out: Path | None, grace: float, source: str) -> None:
    """Bind the port, start `workers` gateway processes on it and supervise them until
    SIGTERM/Ctrl-C (axtui/gateway/workers.py)."""
    from axtui.gateway.serve import BACKLOG, parse_listen
    from axtui.gateway.workers import Supervisor
    from axtui.listening import bind

    host, port = parse_listen(listen)
    try:
        sock = bind(host, port, BACKLOG)
    except OSError as e:
        raise CliError(str(e)) from None
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"axtui serve: http://{shown}:{port}/v1 · config {source} · store {url} · "
               f"{workers} workers" + (f" · trace {trace_out}" if trace_out else ""), err=True)
    command = [sys.executable, "-m", "axtui.cli.main", "serve", "--listen", f"{shown}:{port}",
               "--store", url, "--grace", str(grace)]
    if config is not None:
        command += ["--config", str(config)]
    if trace_out is not None:  # each worker appends whole batches to the one file
        command += ["--trace-out", str(trace_out)]

    def note(kind: str, subject: str, detail: dict) -> None:
        """A worker died: the event, and its heartbeat row goes (it is gone, not silent)."""
        import socket

        from axtui.store.db import open_store
        from axtui.store.process_status import delete_dead_process

        store = open_store(url)
        try:
            store.add_event(kind, subject, detail)
            with store.begin() as conn:
                delete_dead_process(conn, socket.gethostname(), detail["pid"])
        finally:
            store.close()

    supervisor = Supervisor(command, sock, workers, say=lambda line: typer.echo(line, err=True),
                            note=note, grace_s=grace)
    try:
        code = supervisor.run()
    finally:
        sock.close()
    if code:
        raise CliError("the workers did not all stop cleanly (see above)"
                       if supervisor.all_ready else
                       "the gateway did not start (see the error above)", 1)
