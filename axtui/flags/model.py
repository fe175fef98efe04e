"""A flag as the store holds it: its definition (from config or `flags create`) and its
live state, as one control-plane entry `flag:<name>` whose version guards every change."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from axtui.config import FlagConfig

FLAG_PREFIX = "flag:"
ENV_PREFIX = "AXTUI_FLAG_"


def control_key(name: str) -> str:
    return FLAG_PREFIX + name


def tenths(pct: float) -> int:
    """A percentage as integer tenths: every comparison is exact."""
    return round(pct * 10)


class Kill(BaseModel):
    model_config = ConfigDict(frozen=True)

    by: str
    at: float
    reason: str


class FlagState(BaseModel):
    """Definition + state. `pct` is the operator's setting; `effective_pct` what routes."""

    model_config = ConfigDict(frozen=True)

    name: str
    definition: FlagConfig
    pct: float = 0.0
    enabled: bool = True
    killed: Kill | None = None
    previous_pct: float = 0.0  # the percentage before the last increase: where rollback goes
    last_change_at: float
    consecutive_failures: int = 0  # failed gate evaluations in a row (auto-rollback)
    created_at: float
    created_by: str

    @property
    def effective_pct(self) -> float:
        return 0.0 if self.killed is not None or not self.enabled else self.pct

    @property
    def salt(self) -> str:
        return self.definition.salt or self.name

    def next_step(self) -> float | None:
        """The first ladder step above the current percentage, or None at the top."""
        now = tenths(self.pct)
        for step in self.definition.ladder:
            if tenths(step) > now:
                return step
        return None

    @classmethod
    def seeded(cls, name: str, definition: FlagConfig, *, by: str, now: float) -> FlagState:
        return cls(name=name, definition=definition, pct=definition.pct,
                   enabled=definition.enabled, last_change_at=now, created_at=now,
                   created_by=by)


class EnvOverride(BaseModel):
    """`AXTUI_FLAG_<NAME>=off|on|<percent>`: one process's emergency override."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["off", "on", "pct"]
    pct: float
    raw: str

    @property
    def label(self) -> str:
        return self.mode if self.mode != "pct" else f"{self.pct:g}%"


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def parse_override(raw: str) -> EnvOverride | None:
    """None when the value is not off, on, or a percentage 0-100 (one decimal)."""
    v = raw.strip().lower().removesuffix("%")
    if v in ("off", "on"):
        return EnvOverride(mode=v, pct=100.0 if v == "on" else 0.0, raw=raw)
    try:
        pct = float(v)
    except ValueError:
        return None
    if not 0 <= pct <= 100 or round(pct, 1) != pct:
        return None
    return EnvOverride(mode="pct", pct=pct, raw=raw)


class EnvOverrides:
    """The overrides of this process, read once (at engine start): by flag name."""

    __slots__ = ("by_var", "problems")

    def __init__(self, by_var: dict[str, EnvOverride], problems: tuple[str, ...] = ()) -> None:
        self.by_var = by_var
        self.problems = problems  # variables that could not be read: said, never guessed

    def get(self, flag: str) -> EnvOverride | None:
        return self.by_var.get(env_name(flag)) if self.by_var else None

    def unmatched(self, flags: list[str]) -> list[str]:
        known = {env_name(f) for f in flags}
        return sorted(v for v in self.by_var if v not in known)

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> EnvOverrides:
        environ = os.environ if environ is None else environ
        found: dict[str, EnvOverride] = {}
        bad: list[str] = []
        for var, raw in environ.items():
            if var.startswith(ENV_PREFIX):
                ov = parse_override(raw)
                if ov is None:
                    bad.append(f"{var}={raw!r}: expected off, on or a percentage 0-100")
                else:
                    found[var] = ov
        return cls(found, tuple(bad))
