"""The alert rules an SLO adds: per route, objective and policy one built-in rule named
`slo:ROUTE:OBJECTIVE:POLICY` (e.g. `slo:chat:availability:page-fast`), evaluated by the
alert engine like any other (lifecycle, ack, silence, notifications)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from axtui.alerts.rules import AlertRule, Annotations
from axtui.slo.model import POLICIES, BurnPolicy, Objective, SloConfig, window_label

log = logging.getLogger(__name__)
METRIC = {"availability": "slo_availability_burn", "latency": "slo_latency_burn"}
OBJECTIVE_OF = {v: k for k, v in METRIC.items()}


def rule_name(route: str, objective: Objective, policy: BurnPolicy) -> str:
    return f"slo:{route}:{objective}:{policy.name}"


def slo_labels(route: str, slo: SloConfig, objective: Objective, p: BurnPolicy
               ) -> dict[str, str]:
    """What identifies the alert, and the SLO itself: the evaluator stores each rule with its
    state, so a reader without the config (`axtui slo` on another host) finds the SLO."""
    labels = {"route": route, "slo": objective, "policy": p.name,
              "objective": f"{slo.target(objective):g}", "slo_window": window_label(slo.window)}
    if objective == "latency":
        labels["latency_ms"] = f"{slo.latency_ms:g}"
    return labels


def stored_slos(alerts: Iterable[Any]) -> dict[str, SloConfig]:
    """The SLOs behind the stored burn alerts (AlertStatus rows of origin "slo"), by route;
    a row whose labels make no valid SLO is skipped and logged."""
    parts: dict[str, dict[str, Any]] = {}
    for a in alerts:
        labels = a.labels
        if a.origin != "slo" or "objective" not in labels:
            continue
        d = parts.setdefault(labels["route"], {"window": labels.get("slo_window", "28d")})
        if labels["slo"] == "availability":
            d["availability"] = labels["objective"]
        else:
            d["latency_target"] = labels["objective"]
            d["latency_ms"] = labels.get("latency_ms")
    out = {}
    for route, d in parts.items():
        try:
            out[route] = SloConfig.model_validate(d)
        except ValidationError as e:
            log.warning("stored SLO of route %s is not valid, skipped: %s", route, e)
    return out


def slo_rules(slos: Mapping[str, SloConfig]) -> list[AlertRule]:
    rules = []
    for route, slo in sorted(slos.items()):
        for objective in slo.objectives():
            for p in POLICIES:
                action = "page" if p.pages else "ticket"
                rules.append(AlertRule(
                    name=rule_name(route, objective, p), metric=METRIC[objective],
                    scope=f"route:{route}", operator=">", threshold=p.factor,
                    window=p.long_s, short_window=p.short_s, for_=0.0, severity=p.severity,
                    origin="slo",
                    labels=slo_labels(route, slo, objective, p),
                    annotations=Annotations(summary=(
                        f"route {route} burns its {objective} budget ({slo.describe(objective)}"
                        f" over {window_label(slo.window)}) at over {p.factor:g}x over "
                        f"{window_label(p.long_s)} and {window_label(p.short_s)}: {action}")),
                ))
    return rules
