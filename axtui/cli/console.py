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
_WEB = typer.Option(False, "--web", help="serve the console in a browser (textual-serve)")
_WEB_LISTEN = typer.Option("127.0.0.1:8566", "--web-listen",
                           help="HOST:PORT the browser connects to (with --web)")


def console_settings(config) -> tuple[str | None, dict[str, str]]:
    """`[console]`: the theme and the keymap, checked before anything starts (exit 2)."""
    from axtui.tui.keys import KeymapError, validate_keymap

    try:
        return config.console.theme, validate_keymap(config.console.keys)
    except KeymapError as e:
        raise CliError(str(e)) from None


NO_TERMINAL = ("the console needs a terminal (headless: axtui demo, axtui trace, "
               "axtui providers list)")


def has_terminal() -> bool:
    """textual reads keys from stdin and draws on stderr."""
    import sys

    return (sys.stdin.isatty() and sys.stderr.isatty()) or bool(os.environ.get("AXTUI_FORCE_TUI"))


def run_console(feed, *, refresh: float, readonly: bool, no_mouse: bool,
                serving: bool = False, web: str | None = None,
                config_path: str | None = None) -> None:
    """Start the feed's children, run the app until it quits, then stop them in order.
    With `web` (HOST:PORT) browsers get the console instead of this terminal."""

    try:
        theme, keymap = console_settings(feed.config)
    except CliError:
        feed.close()
        raise
    if web is not None:
        from axtui.tui.web import serve_web

        try:
            serve_web(feed, web, config=config_path, refresh=refresh, readonly=readonly)
        except ValueError as e:
            raise CliError(str(e)) from None
        return
    if not has_terminal():
        feed.close()
        raise CliError(NO_TERMINAL)
    try:
        feed.start()  # the engine child starts up while this process imports textual
        from axtui.tui.app import ConsoleApp

        app = ConsoleApp(feed, refresh_s=1.0 / refresh, readonly=readonly, serving=serving,
                         theme=theme, keymap=keymap)
        app.run(mouse=not no_mouse)
    finally:
        feed.close()  # the child flushes its recorder and exits
    if app.return_code:
        raise typer.Exit(app.return_code)


def demo_console(refresh: float = 3.0, readonly: bool = False, no_mouse: bool = False,
                 rate: float = 30.0, store: str | None = None, web: str | None = None) -> None:
    from axtui.tui.feed import demo_feed

    if web is None and not has_terminal():  # before the demo's child starts
        raise CliError(NO_TERMINAL)
    run_console(demo_feed(rate=rate, store_url=store), refresh=refresh, readonly=readonly,
                no_mouse=no_mouse, web=web)


def console(
    config: Path = typer.Option(..., "--config", "-c", help="the config to run"),
    listen: str | None = typer.Option(None, "--listen", help="HOST:PORT: also serve traffic "
                                      "(the gateway runs as a child process)"),
    store: str | None = typer.Option(None, "--store", help="store URL (default: the config's)"),
    refresh: float = _REFRESH,
    readonly: bool = _READONLY,
    no_mouse: bool = _NO_MOUSE,
    web: bool = _WEB,
    web_listen: str = _WEB_LISTEN,
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
                no_mouse=no_mouse, serving=bool(listen), web=web_listen if web else None,
                config_path=str(config))


def attach(
    store: str = typer.Option(..., "--store", help="the store other axtui serve processes write"),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="their config (default: the bundled demo)"),
    refresh: float = _REFRESH,
    readonly: bool = _READONLY,
    no_mouse: bool = _NO_MOUSE,
    web: bool = _WEB,
    web_listen: str = _WEB_LISTEN,
) -> None:
    """The console over a store; every action goes through its control plane (the fleet)."""
    from axtui.tui.feed import attach_feed

    cfg = str(config) if config else None
    run_console(attach_feed(store, cfg), refresh=refresh, readonly=readonly,
                no_mouse=no_mouse, web=web_listen if web else None, config_path=cfg)


def replay_console(trace: str, replay_args: list[str], config, speed: float | None,
                   readonly: bool) -> None:
    """`axtui replay TRACE --tui`: the console over a replay running in a child process."""
    from axtui.tui.replay_feed import replay_feed

    run_console(replay_feed(trace, replay_args, config, speed), refresh=3.0,
                readonly=readonly, no_mouse=False)
