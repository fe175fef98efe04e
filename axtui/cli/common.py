"""Set-up shared by commands: config and store opened with one-line errors."""

from __future__ import annotations

from pathlib import Path

from axtui.cli.output import CliError


def open_cli_store(url: str | None, config: Path | None = None):
    """The store named by --store, else the config's (the bundled demo's by default)."""
    from axtui.store.db import open_store

    if url is None:
        from axtui.config import load_config

        url = load_config(config).store.url
    try:
        return open_store(url)
    except Exception as e:  # bad URL, missing driver, unwritable path: one line, exit 2
        raise CliError(f"cannot open store {url!r}: {type(e).__name__}: {e}") from None
