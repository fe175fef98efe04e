"""What the console's dialogs need from the App: the store actions go through, who acts,
whether actions are allowed, and what the engineer has focused."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

TargetKind = Literal["deployment", "flag", "alert", "route", "record"]


@dataclass(frozen=True)
class Target:
    """The row the engineer has focused, by key (never by position)."""

    kind: TargetKind
    name: str


@dataclass
class ConsoleContext:
    store: Any  # axtui.store.db.Store, or None when the console has none to act on
    by: str
    readonly: bool = False
    serving: bool = False  # the console's own engine serves traffic: quitting stops it


def operator() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "console"
