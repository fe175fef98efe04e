"""What an agent may spend and how long it may run, and how a task's complexity hint is read.

Money is exact: a budget is integer nano-dollars (give `budget_usd` as a string or Decimal
and it is converted exactly). Runtime counts the time the agent ran, summed over its runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from axtui.records import NANO_PER_USD
from axtui.units import usd

LEVELS = ("simple", "medium", "complex")  # the engine's complexity levels
# what people also write: a task's hint maps onto the engine's level
HINTS = {"low": "simple", "simple": "simple", "medium": "medium", "high": "complex",
         "complex": "complex"}


def level_of(hint: str | None) -> str | None:
    """The engine's complexity level for a task's hint (low/medium/high or the engine's own
    simple/medium/complex); None: let the engine estimate it from the request."""
    if hint is None:
        return None
    level = HINTS.get(hint.lower())
    if level is None:
        raise ValueError(f"complexity {hint!r}: expected one of {', '.join(HINTS)}")
    return level


@dataclass(frozen=True, slots=True)
class Limits:
    """Stop the agent cleanly once it has spent `budget_nano`, run `runtime_s` seconds or made
    `steps` calls. None: no limit of that kind."""

    budget_nano: int | None = None
    runtime_s: float | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.budget_nano is not None and (not isinstance(self.budget_nano, int)
                                             or self.budget_nano < 0):
            raise ValueError(f"budget_nano {self.budget_nano!r}: expected an integer >= 0")
        if self.runtime_s is not None and not self.runtime_s > 0:
            raise ValueError(f"runtime_s {self.runtime_s!r}: expected seconds > 0")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps {self.steps!r}: expected at least 1")

    @classmethod
    def of(cls, *, budget_usd: str | Decimal | int | None = None, runtime_s: float | None = None,
           steps: int | None = None) -> Limits:
        """Limits with the budget in dollars, converted exactly (a float is refused: it
        cannot say an exact amount)."""
        return cls(budget_nano=None if budget_usd is None else usd_to_nano(budget_usd),
                   runtime_s=runtime_s, steps=steps)


def usd_to_nano(amount: str | Decimal | int) -> int:
    if isinstance(amount, float):
        raise ValueError(f"budget {amount!r}: give dollars as a string or Decimal, not a float")
    try:
        d = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"budget {amount!r}: expected an amount in USD") from None
    nano = d * NANO_PER_USD
    if not d.is_finite() or d < 0 or nano != nano.to_integral_value():
        raise ValueError(f"budget {amount!r}: expected USD >= 0 with at most 9 decimals")
    return int(nano)


def stop_for(limits: Limits, *, cost_nano: int, runtime_s: float, steps: int,
             next_call_nano: int = 0) -> tuple[str, str] | None:
    """(reason, detail) when a limit is reached, checked before a call; else None.
    `next_call_nano`: the least the next call can cost (0 when unknown)."""
    b = limits.budget_nano
    if b is not None and cost_nano >= b:
        return "budget", f"spent {usd(cost_nano, 6)} of {usd(b, 6)}"
    if b is not None and cost_nano + next_call_nano > b:
        return "budget", (f"{usd(b - cost_nano, 6)} left of {usd(b, 6)}; the next call costs "
                          f"at least {usd(next_call_nano, 6)}")
    if limits.runtime_s is not None and runtime_s >= limits.runtime_s:
        return "runtime", f"ran {runtime_s:.1f}s of {limits.runtime_s:g}s"
    if limits.steps is not None and steps >= limits.steps:
        return "steps", f"made {steps} of {limits.steps} calls"
    return None
