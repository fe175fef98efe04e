"""The `axtui` command. Each subcommand parses, calls the core, and prints (a table for
people, `--json` for scripts). Heavy imports happen inside commands so `--help` is fast."""

from __future__ import annotations

import sys

import typer

from axtui.cli.output import CliError

app = typer.Typer(
    name="axtui",
    help="LLM routing gateway with an on-call console.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    readonly: bool = typer.Option(False, "--readonly", help="console: refuse destructive "
                                  "actions (shown dimmed)"),
    no_mouse: bool = typer.Option(False, "--no-mouse", help="console: no mouse capture"),
    refresh: float = typer.Option(3.0, "--refresh", min=0.2, max=20.0,
                                  help="console: snapshots per second"),
    web: bool = typer.Option(False, "--web", help="console: serve it in a browser"),
    web_listen: str = typer.Option("127.0.0.1:8566", "--web-listen",
                                   help="console: HOST:PORT for --web"),
) -> None:
    """With no command: the console on the built-in demo (live simulated traffic)."""
    from axtui.cli.common import close_cli_stores

    ctx.call_on_close(close_cli_stores)  # whatever the command, once it has ended
    if ctx.invoked_subcommand is None:
        from axtui.cli.console import demo_console

        demo_console(refresh=refresh, readonly=readonly, no_mouse=no_mouse,
                     web=web_listen if web else None)


def _register() -> None:
    from axtui.cli import (
        agents,
        alerts,
        cache,
        config_cmd,
        console,
        costs,
        demo,
        deployments,
        drill,
        flags,
        keys,
        monitor,
        providers,
        ratelimit,
        replay,
        route,
        serve,
        sim,
        slo,
        status,
        trace,
    )

    app.command("demo")(demo.demo)
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(providers.app, name="providers")
    app.command("route")(route.route)
    app.command("trace")(trace.trace)
    app.add_typer(flags.app, name="flags")
    app.add_typer(deployments.app, name="deployments")
    app.command("serve")(serve.serve)
    app.add_typer(keys.app, name="keys")
    app.add_typer(alerts.app, name="alerts")
    monitor.app.command("status")(status.status)
    app.add_typer(costs.app, name="costs")
    app.add_typer(monitor.app, name="monitor")
    app.command("console")(console.console)
    app.command("attach")(console.attach)
    app.command("drill")(drill.drill)
    app.add_typer(sim.app, name="sim")
    app.command("replay")(replay.replay)
    app.add_typer(agents.app, name="agents")
    app.add_typer(cache.app, name="cache")
    app.add_typer(slo.app, name="slo")
    app.add_typer(ratelimit.app, name="ratelimit")


_register()


def run() -> None:
    """Entry point: one clear line and exit code 2 for bad input, never a traceback."""
    from axtui.config import ConfigError

    try:
        # without standalone mode click returns a command's `typer.Exit(code)` as a value
        code = app(standalone_mode=False)
    except CliError as e:
        typer.echo(f"error: {e.message}", err=True)
        sys.exit(e.code)
    except ConfigError as e:
        for line in e.problems:
            typer.echo(f"error: {line}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # usage errors, and anything unforeseen: one line, no traceback
        import os

        import click

        if isinstance(e, click.ClickException | typer.TyperException):
            show = getattr(e, "show", None)
            if show is not None:
                show()
            else:
                typer.echo(f"error: {e}", err=True)
            sys.exit(getattr(e, "exit_code", 2) or 2)
        if os.environ.get("AXTUI_DEBUG"):
            raise
        typer.echo(f"error: internal error: {type(e).__name__}: {e} "
                   "(AXTUI_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)


def main() -> None:
    """The `axtui` script: `run()`, then out without the interpreter's final collections
    over every loaded module's objects (heap.before_exit). Tests call `run()` in-process."""
    from axtui.heap import before_exit

    try:
        run()
    finally:
        before_exit()


if __name__ == "__main__":
    main()
