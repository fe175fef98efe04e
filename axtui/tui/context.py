"""What the console's dialogs need from the App: the store actions go through, who acts,
whether actions are allowed, and what the engineer has focused."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

TargetKind = Literal["deployment", "flag", "alert", "route", "record"]


@dataclass(frozen=True)
class Target:
    """The row the engineer has focused, by key (never by position)."""

    kind: TargetKind
    name: str


@dataclass
class ConsoleContext:
    """`store` given (tests) or opened from `store_url` on first use, in the worker thread
    that needs it (never on the event loop)."""

    store_url: str | None = None
    by: str = field(default_factory=lambda: operator())
    readonly: bool = False
    serving: bool = False  # the console's own engine serves traffic: quitting stops it
    _store: Any = None
    _opened: bool = False  # this context opened the store (and so closes it)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def with_store(cls, store, **kw) -> ConsoleContext:
        return cls(store_url=str(store.url), _store=store, **kw)

    @property
    def store(self):
        with self._lock:
            if self._store is None:
                if self.store_url is None:
                    raise RuntimeError("this console has no store to act on")
                from axtui.store.db import open_store

                self._store = open_store(self.store_url)
                self._opened = True
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._opened and self._store is not None:
                self._store.close()
                self._store, self._opened = None, False


def operator() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "console"
