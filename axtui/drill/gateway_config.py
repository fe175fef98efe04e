"""The gateway config a drill runs: one deployment per simulated upstream (named after it),
one route `chat` over all of them in the scenario's order, alerts evaluated every second,
a scratch SQLite store. Written as TOML for `axtui serve --config`."""

from __future__ import annotations

import json
from typing import Any

ROUTE = "chat"
KEY_ENV = "AXTUI_DRILL_UPSTREAM_KEY"  # the sim wants a key like a vendor; any value does
ALERT_RULES = (
    {"name": "drill-breaker", "metric": "breaker_open", "scope": "deployment:*",
     "operator": ">", "threshold": 0, "window": "1m", "for": "0s", "severity": "critical",
     "annotations": {"summary": "a deployment's breaker is open"}},
    {"name": "drill-errors", "metric": "error_rate", "scope": "deployment:*",
     "operator": ">", "threshold": 0.5, "window": "1m", "for": "0s", "severity": "critical",
     "annotations": {"summary": "a deployment fails over half of its attempts"}},
)


def gateway_table(scenario: Any, upstream_urls: dict[str, str], store_url: str,
                  strategy: str = "priority", *, alert_interval_s: float = 1.0
                  ) -> dict[str, Any]:
    """The config as a TOML-shaped dict (checked with axtui.config.parse_config). The
    default strategy, priority, sends everything to the first upstream while it serves:
    its faults then reach every request until the breaker acts."""
    providers, deployments = {}, []
    for u in scenario.upstreams:
        providers[u.name] = {"protocol": u.protocol, "base_url": upstream_urls[u.name],
                             "api_key_env": KEY_ENV}
        deployments.append({
            "provider": u.name, "model": u.model, "name": u.name,
            # stated, so an unknown model is neither unpriced nor refused streams
            "capabilities": ["streaming", "tools", "json", "vision"],
            "context_window": 128000,
        })
    return {
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": providers,
        "deployments": deployments,
        "routes": {ROUTE: {"candidates": [u.name for u in scenario.upstreams],
                           "strategy": strategy,
                           "description": f"drill: {scenario.name}"}},
        "metrics": {"enabled": False},
        "alerting": {"interval_s": alert_interval_s, "budget_alerts": False},
        "alerts": [dict(r) for r in ALERT_RULES],
    }


def to_toml(table: dict[str, Any]) -> str:
    """A small TOML writer for the shapes above: tables, arrays of tables, and values that
    are strings, numbers, booleans or lists of them (JSON's escapes are TOML's)."""
    lines: list[str] = []
    _write(table, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {type(v).__name__}")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _write(table: dict[str, Any], path: list[str], lines: list[str],
           inline: bool = False) -> None:
    """Plain values first, then sub-tables as [a.b] sections and lists of tables as [[a]];
    inside an array's table (`inline`), sub-tables stay inline: { k = v }."""
    def section(v: Any) -> bool:
        return not inline and (isinstance(v, dict) or _is_table_list(v))

    for k, v in table.items():
        if not section(v):
            lines.append(f"{json.dumps(k)} = {_value(v)}")
    for k, v in table.items():
        name = ".".join(json.dumps(p) for p in [*path, k])
        if not section(v):
            continue
        if isinstance(v, dict):
            lines += ["", f"[{name}]"]
            _write(v, [*path, k], lines)
        else:
            for item in v:
                lines += ["", f"[[{name}]]"]
                _write(item, [*path, k], lines, inline=True)
