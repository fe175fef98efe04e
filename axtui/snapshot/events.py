"""The event log's entries as types: what a breaker, budget, drain, flag or alert event says,
read once from the stored JSON so no renderer digs in a dict. Alert events use the models
axtui.alerts.state defines; an entry this version does not know (or one that no longer
parses) has no detail and is counted by the Snapshot's builder, never raised."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Detail(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


class BreakerEvent(_Detail):
    """breaker: a deployment's circuit breaker changed state."""

    from_state: str = Field(alias="from")
    to_state: str = Field(alias="to")
    reason: str = ""
    until: float | None = None  # when an opened breaker lets a trial through


class BudgetThresholdEvent(_Detail):
    """budget_threshold: spend crossed 50, 80 or 100% of a budget."""

    period: str
    threshold: int
    spent_nano: int
    limit_nano: int


class DrainEvent(_Detail):
    """drain | undrain: an operator took a deployment out of routing, or put it back."""

    by: str = ""
    reason: str = ""


class FlagEvent(_Detail):
    """flag: a flag was created, rolled out, advanced, killed, revived..."""

    action: str
    from_pct: float | None = Field(default=None, alias="from")
    to_pct: float = Field(alias="to")
    effective: float | None = None
    by: str = ""
    reason: str | None = None
    forced: bool = False


class KeyEvent(_Detail):
    """key_create | key_revoke: a caller key (its id, never the secret)."""

    id: str
    by: str = ""


class ConfigReloadEvent(_Detail):
    """config_reload: a process re-read its config (SIGHUP, POST /admin/config/reload, `axtui
    config reload`): applied, unchanged, or refused with its errors (runtime/reload.py)."""

    ok: bool
    source: str = ""
    by: str = ""
    changed: bool = False
    errors: list[str] = []
    restart_required: dict[str, str] = {}  # section: why it waits for a restart
    summary: str = ""


_MODELS: dict[str, type[BaseModel]] = {
    "breaker": BreakerEvent, "budget_threshold": BudgetThresholdEvent,
    "drain": DrainEvent, "undrain": DrainEvent, "flag": FlagEvent,
    "key_create": KeyEvent, "key_revoke": KeyEvent, "config_reload": ConfigReloadEvent,
}


def event_model(kind: str) -> type[BaseModel] | None:
    if kind.startswith("alert."):
        from axtui.alerts.state import EVENT_MODELS

        return EVENT_MODELS.get(kind)
    return _MODELS.get(kind)


def typed_detail(kind: str, detail: dict[str, Any]) -> BaseModel | None:
    """The entry's detail as its type; None for a kind without one. ValidationError when a
    known kind's detail does not parse (the caller counts it)."""
    model = event_model(kind)
    return None if model is None else model.model_validate(detail)


__all__ = ["BreakerEvent", "BudgetThresholdEvent", "ConfigReloadEvent", "DrainEvent",
           "FlagEvent", "KeyEvent",
           "ValidationError", "event_model", "typed_detail"]
