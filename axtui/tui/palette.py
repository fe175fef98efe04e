"""Colours for states and severities, from the theme's variables (a theme file may set
`state-<state>` and `severity-<severity>`; otherwise the theme's error/warning/success)."""

from __future__ import annotations

from collections.abc import Mapping

_FALLBACK = {
    "state-ok": "success", "state-degraded": "warning", "state-limited": "warning",
    "state-half_open": "warning",
    "state-open": "error", "state-drained": "error", "state-idle": "foreground-muted",
    "severity-critical": "error", "severity-warning": "warning", "severity-info": "primary",
    "severity-resolved": "success", "muted": "foreground-muted",
}


class Palette:
    def __init__(self, variables: Mapping[str, str]) -> None:
        self._vars = variables

    def __call__(self, role: str) -> str:
        """A colour for a Rich style; '' (no colour) when the theme has none."""
        v = self._vars.get(role)
        if v is None and role in _FALLBACK:
            v = self._vars.get(_FALLBACK[role])
        return v or ""

    def state(self, state: str) -> str:
        return self(f"state-{state}")

    def severity(self, severity: str) -> str:
        return self(f"severity-{severity}")
