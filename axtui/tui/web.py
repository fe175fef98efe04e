"""`--web`: the same console in a browser, through textual-serve.

The web process owns the feed's children (the demo engine, or the gateway with --listen) and
starts them once; every browser session runs `axtui attach` on their store, so sessions share
one engine and every action goes through the store's control plane, as in a terminal.
"""

from __future__ import annotations

import os
import shlex
import sys


def session_command(store_url: str, config: str | None, *, refresh: float,
                    readonly: bool) -> str:
    """The shell command textual-serve runs for each browser session."""
    argv = [sys.executable, "-m", "axtui.cli.main", "attach", "--store", store_url,
            "--refresh", f"{refresh:g}"]
    if config:
        argv += ["--config", config]
    if readonly:
        argv.append("--readonly")
    return shlex.join(argv)


def serve_web(feed, listen: str, *, config: str | None, refresh: float, readonly: bool) -> None:
    """Start the feed's children, serve sessions at `listen` until interrupted, stop them."""
    from textual_serve.server import Server

    from axtui.gateway.serve import parse_listen

    host, port = parse_listen(listen)
    # a session's stdout is textual-serve's pipe, not a terminal: the web driver draws
    os.environ["AXTUI_FORCE_TUI"] = "1"
    try:
        feed.start()
        server = Server(session_command(feed.store_url, config, refresh=refresh,
                                        readonly=readonly),
                        host=host, port=port, title="axtui")
        print(f"axtui console at http://{host}:{port}  (ctrl+c stops it)", flush=True)
        server.serve()
    finally:
        feed.close()
