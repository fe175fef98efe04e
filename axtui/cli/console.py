"""`axtui` (the demo console), `axtui console --config F` and `axtui attach --store URL`.

The console's own process only renders and writes the control plane; the engine runs in a
child process (the demo, or the gateway with --listen) or in other processes (attach).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from axtui.cli.output import CliError

_REFRESH = typer.Option(3.0, "--refresh", min=0.2, max=20.0,
                        help="snapshots per second (default 3)")
_READONLY = typer.Option(False, "--readonly", help="refuse destructive actions (shown dimmed)")
_NO_MOUSE = typer.Option(False, "--no-mouse", help="leave the mouse to the terminal")


def run_console(feed, *, refresh: float, readonly: bool, no_mouse: bool,
                serving: bool = False) -> None:
    """Start the feed's children, run the app until it quits, then stop them in order."""
    import sys

    if not sys.stdout.isatty() and not os.environ.get("AXTUI_FORCE_TUI"):
        feed.close()
        raise CliError("the console needs a terminal (headless: axtui demo, axtui trace, "
                       "axtui providers list)")
    from axtui.tui.app import ConsoleApp

    try:
        feed.start()
        app = ConsoleApp(feed, refresh_s=1.0 / refresh, readonly=readonly, serving=serving)
        app.run(mouse=not no_mouse)
    finally:
        feed.close()  # the child flushes its recorder and exits
    if app.return_code:
        raise typer.Exit(app.return_code)


def demo_console(refresh: float = 3.0, readonly: bool = False, no_mouse: bool = False,
                 rate: float = 30.0, store: str | None = None) -> None:
    from axtui.tui.feed import demo_feed

    run_console(demo_feed(rate=rate, store_url=store), refresh=refresh, readonly=readonly,
                no_mouse=no_mouse)


def console(
    config: Path = typer.Option(..., "--config", "-c", help="the config to run"),
    listen: str | None = typer.Option(None, "--listen", help="HOST:PORT: also serve traffic "
                                      "(the gateway runs as a child process)"),
    store: str | None = typer.Option(None, "--store", help="store URL (default: the config's)"),
    refresh: float = _REFRESH,
    readonly: bool = _READONLY,
    no_mouse: bool = _NO_MOUSE,
) -> None:
    """The console over a real config; with --listen the gateway serves traffic too."""
    from axtui.tui.feed import console_feed

    if listen:
        from axtui.gateway.serve import parse_listen

        try:
            parse_listen(listen)
        except ValueError as e:
            raise CliError(str(e)) from None
    run_console(console_feed(str(config), listen, store), refresh=refresh, readonly=readonly,
                no_mouse=no_mouse, serving=bool(listen))


def attach(
    store: str = typer.Option(..., "--store", help="the store other axtui serve processes write"),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="their config (default: the bundled demo)"),
    refresh: float = _REFRESH,
    readonly: bool = _READONLY,
    no_mouse: bool = _NO_MOUSE,
) -> None:
    """The console over a store; every action goes through its control plane (the fleet)."""
    from axtui.tui.feed import attach_feed

    run_console(attach_feed(store, str(config) if config else None), refresh=refresh,
                readonly=readonly, no_mouse=no_mouse)
