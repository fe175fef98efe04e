"""Drains reach an engine only through the control plane: tests without a store apply a
control snapshot, as ControlSync does."""

from __future__ import annotations

import itertools

from axtui.engine.control import DRAIN_PREFIX
from axtui.store.control import ControlEntry, ControlSnapshot

_versions = itertools.count(1)


def apply_drains(engine, drained: dict[str, str]) -> None:
    """Apply a control snapshot in which exactly `drained` (deployment -> reason) is drained."""
    version = next(_versions)
    entries = {DRAIN_PREFIX + dep: ControlEntry(key=DRAIN_PREFIX + dep, value={
        "reason": reason, "by": "test", "at": 0.0}, version=version, updated_at=0.0,
        updated_by="test") for dep, reason in drained.items()}
    engine.apply_control(ControlSnapshot(version=version, entries=entries))
