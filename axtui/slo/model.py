"""`[routes.X.slo]`: a route's objectives, and the burn-rate policies every SLO alerts by.

availability = 99.9      # percent of requests that succeed (omit: no availability SLO)
latency_ms = 2000        # with latency_target: that percent of requests finish under it
latency_target = 99.0
window = "28d"           # the rolling window the budget is counted over (1d to 31d)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from axtui.alerts.rules import Duration, format_duration

Objective = Literal["availability", "latency"]
DEFAULT_WINDOW_S = 28 * 86400.0
MIN_WINDOW_S = 86400.0
# the windows burn rates are shown over (seconds), as the workbook's policies read them
BURN_WINDOWS: tuple[float, ...] = (300.0, 1800.0, 3600.0, 6 * 3600.0, 3 * 86400.0)


@dataclass(frozen=True, slots=True)
class BurnPolicy:
    """One multiwindow alert: the burn rate over both windows exceeds `factor`."""

    name: str
    long_s: float
    short_s: float
    factor: float
    severity: Literal["critical", "warning"]

    @property
    def pages(self) -> bool:
        return self.severity == "critical"


# The workbook's table: 2% of a 30-day budget in 1 h, 5% in 6 h, 10% in 3 days.
POLICIES: tuple[BurnPolicy, ...] = (
    BurnPolicy("page-fast", 3600.0, 300.0, 14.4, "critical"),
    BurnPolicy("page-slow", 6 * 3600.0, 1800.0, 6.0, "critical"),
    BurnPolicy("ticket", 3 * 86400.0, 6 * 3600.0, 1.0, "warning"),
)


def window_label(seconds: float) -> str:
    return format_duration(seconds)


def _percent(name: str, v: float | None) -> float | None:
    if v is not None and not 0 < v < 100:
        raise ValueError(f"{name} is a percent above 0 and below 100 (got {v:g}; 100 leaves "
                         "no error budget)")
    return v


class SloConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    availability: float | None = None
    latency_ms: float | None = None
    latency_target: float = 99.0
    window: Duration = DEFAULT_WINDOW_S

    @field_validator("availability")
    @classmethod
    def _availability(cls, v: float | None) -> float | None:
        return _percent("availability", v)

    @field_validator("latency_target")
    @classmethod
    def _latency_target(cls, v: float) -> float:
        return _percent("latency_target", v)  # type: ignore[return-value]

    @field_validator("latency_ms")
    @classmethod
    def _latency_ms(cls, v: float | None) -> float | None:
        if v is not None and not 0 < v <= 3_600_000:
            raise ValueError(f"latency_ms is above 0 and at most 3600000 (got {v:g})")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if v < MIN_WINDOW_S:
            raise ValueError(f"window is 1d to 31d (got {format_duration(v)})")
        return v

    @model_validator(mode="after")
    def _some_objective(self) -> SloConfig:
        if self.availability is None and self.latency_ms is None:
            raise ValueError("an slo needs availability, latency_ms, or both")
        return self

    def objectives(self) -> list[Objective]:
        out: list[Objective] = []
        if self.availability is not None:
            out.append("availability")
        if self.latency_ms is not None:
            out.append("latency")
        return out

    def target(self, objective: Objective) -> float:
        """The objective's percent of good requests."""
        if objective == "availability":
            assert self.availability is not None
            return self.availability
        return self.latency_target

    def budget_fraction(self, objective: Objective) -> float:
        """The share of requests allowed to be bad: 0.001 for 99.9%."""
        return (100.0 - self.target(objective)) / 100.0

    def describe(self, objective: Objective) -> str:
        if objective == "availability":
            return f"{self.availability:g}% succeed"
        return f"{self.latency_target:g}% under {self.latency_ms:g}ms"
