"""Printing for headless commands: aligned plain tables for people, `--json` for scripts.
Exit codes everywhere: 0 ok, 1 a negative verdict, 2 usage or input error."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson

from axtui.units import ms, pct, usd  # noqa: F401  (re-exported: the CLI's formatting)


class CliError(Exception):
    """A one-line message for the user and an exit code; never a traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                                  default=_default).decode())
    sys.stdout.write("\n")


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, set | frozenset):
        return sorted(o)
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    raise TypeError(type(o).__name__)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], right: set[int] = frozenset()
          ) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
