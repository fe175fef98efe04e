"""One immutable view of the system, read from the store in one transaction (see model.py)."""

from axtui.snapshot.model import (
    AlertView,
    DeploymentView,
    EventView,
    FlagView,
    ProcessView,
    Pulse,
    RouteView,
    Snapshot,
    Spend,
)

__all__ = ["AlertView", "DeploymentView", "EventView", "FlagView", "ProcessView", "Pulse",
           "RouteView", "Snapshot", "Spend"]
