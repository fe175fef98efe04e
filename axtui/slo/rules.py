"""The alert rules an SLO adds: per route, objective and policy one built-in rule named
`slo:ROUTE:OBJECTIVE:POLICY` (e.g. `slo:chat:availability:page-fast`), evaluated by the
alert engine like any other (lifecycle, ack, silence, notifications)."""

from __future__ import annotations

from collections.abc import Mapping

from axtui.alerts.rules import AlertRule, Annotations
from axtui.slo.model import POLICIES, BurnPolicy, Objective, SloConfig, window_label

METRIC = {"availability": "slo_availability_burn", "latency": "slo_latency_burn"}
OBJECTIVE_OF = {v: k for k, v in METRIC.items()}


def rule_name(route: str, objective: Objective, policy: BurnPolicy) -> str:
    return f"slo:{route}:{objective}:{policy.name}"


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
                    labels={"route": route, "slo": objective, "policy": p.name},
                    annotations=Annotations(summary=(
                        f"route {route} burns its {objective} budget ({slo.describe(objective)}"
                        f" over {window_label(slo.window)}) at over {p.factor:g}x over "
                        f"{window_label(p.long_s)} and {window_label(p.short_s)}: {action}")),
                ))
    return rules
