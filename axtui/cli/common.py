"""Set-up shared by commands: config and store opened with one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

from axtui.cli.output import CliError

log = logging.getLogger(__name__)
_OPENED: list = []  # the stores this command opened: closed when it ends (close_cli_stores)


def open_cli_store(url: str | None, config: Path | None = None, *, existing: bool = False):
    """The store named by --store, else the config's (the bundled demo's by default).
    `existing`: a command that only reads refuses an SQLite file that is not there (a typo
    in a path would otherwise create an empty store and answer 'no data')."""
    from axtui.store.db import open_store

    if url is None:
        from axtui.config import load_config

        url = load_config(config).store.url
    if existing:
        _must_exist(url)
    try:
        store = open_store(url)
    except Exception as e:  # bad URL, missing driver, unwritable path: one line, exit 2
        raise CliError(f"cannot open store {_shown(url)!r}: {type(e).__name__}: "
                       f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}") from None
    _OPENED.append(store)
    return store


def close_cli_stores() -> None:
    """Close every store the command opened, once it has ended (when the root command's
    context closes, cli/main.py, however the command was invoked): an SQLite
    store's write-ahead log is folded back and its -wal and -shm files go, as after any
    clean close, rather than being left beside the file by a command that read and left."""
    while _OPENED:
        store = _OPENED.pop()
        try:
            store.close()
        except Exception as e:  # the command's own outcome stands: said, not raised
            log.warning("closing the store: %s: %s", type(e).__name__, e)


def _shown(url: str) -> str:
    """The URL without its password (a PostgreSQL URL may carry one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _must_exist(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # open_store says what is wrong with it
    path = parsed.database
    if (parsed.get_backend_name() == "sqlite" and path and path != ":memory:"
            and not path.startswith("file:") and not Path(path).exists()):
        raise CliError(f"no store at {path}: axtui demo or axtui serve writes one "
                       "(--store names another)")
