"""Alert rules: what to watch (metric, scope, operator, threshold, window, `for`), how bad it
is (severity), and what to tell people (labels identify, annotations explain), as
Prometheus alerting rules are. Rules come from the config (`[[alerts]]`), from the store's
control plane (created with `axtui alerts rules create`), and from the config's budgets
(built in: one rule per budget and threshold)."""

from __future__ import annotations

import operator as _op
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from axtui import units

Metric = Literal[
    "error_rate", "success_rate", "p50", "p95", "p99", "ttft_p95", "request_rate",
    "cost_per_hour", "spend_vs_budget", "breaker_open", "headroom_near_miss_rate",
    "failover_rate", "rejected_rate", "slo_availability_burn", "slo_latency_burn",
    "free_tier_share",
]
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]
Operator = Literal[">", "<", ">=", "<=", "==", "!="]
Severity = Literal["info", "warning", "critical"]
SCOPE_KINDS = ("route", "deployment", "provider")
# Measured over requests only: a rejected request reaches no deployment.
REQUEST_ONLY = {"rejected_rate"}
SLO_METRICS = {"slo_availability_burn", "slo_latency_burn"}  # a route's SLO (axtui/slo)
# Measured over every request: answers on free-tier deployments / all answers (costs)
GLOBAL_ONLY = {"free_tier_share"}
UNITS = {"error_rate": "ratio", "success_rate": "ratio", "p50": "ms", "p95": "ms", "p99": "ms",
         "ttft_p95": "ms", "request_rate": "req/s", "cost_per_hour": "USD/h",  # the store's metric is nano-USD/h; rules use USD
         "spend_vs_budget": "%", "breaker_open": "open breakers",
         "headroom_near_miss_rate": "ratio", "failover_rate": "ratio", "rejected_rate": "ratio",
         "slo_availability_burn": "x", "slo_latency_burn": "x", "free_tier_share": "ratio"}

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": _op.gt, "<": _op.lt, ">=": _op.ge, "<=": _op.le, "==": _op.eq, "!=": _op.ne,
}
RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}\[[^\[\]]{1,200}\]$")
MAX_WINDOW_S = 31 * 86400.0
PERIOD_WORDS = {"day": "daily", "month": "monthly"}  # a budget's period in a summary


def value_text(v: float | None, metric: str) -> str:
    """A rule's value or threshold in its metric's unit, as every face prints it: `6.2%`,
    `1.59s`, `$1.20/h`, `0.9 req/s`, `2 open breakers`."""
    if v is None:
        return "no data"
    unit = UNITS.get(metric, "")
    if unit == "ratio":
        return units.pct(v)
    if unit == "%":
        return units.pct_points(v)
    if unit == "ms":
        return units.ms(v)
    if unit == "USD/h":
        return f"${v:,.2f}/h" if abs(v) >= 1 else f"${v:.4g}/h"
    if unit == "x":  # a burn rate: times the rate that spends the budget in its window
        return f"{v:.3g}x"
    if unit == "open breakers" and v == 1:
        return "1 open breaker"
    return f"{v:.4g} {unit}".rstrip()


def parse_duration(value: Any) -> float:
    """"90s", "5m", "1h", "1d" (axtui.units' parser), 0, or a number of seconds; ValueError
    with one line otherwise, or beyond 31 days."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 1h, 7d)")
    if isinstance(value, str) and value.strip() in ("0", "0s"):
        seconds = 0.0
    elif isinstance(value, str):
        seconds = units.parse_duration(value)
    else:
        seconds = float(value)
    if not 0 <= seconds <= MAX_WINDOW_S:
        raise ValueError(f"duration {value!r} is out of range (0 to 31d)")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]


def parse_scope(text: str) -> tuple[str, str]:
    """("global", "") or (kind, name) for route:NAME, deployment:NAME, provider:NAME; a
    name of `*` is every one of them (one alert per route, deployment or provider)."""
    text = text.strip()
    if text == "global":
        return "global", ""
    kind, sep, name = text.partition(":")
    if sep and kind in SCOPE_KINDS and name:
        return kind, name
    if sep and kind in ("user", "key") and name:  # budget scopes, for spend_vs_budget
        return kind, name
    raise ValueError(f"bad scope {text!r}: use global, route:NAME, deployment:NAME or "
                     "provider:NAME (NAME may be *)")


class Annotations(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str = ""
    runbook: str = ""


class AlertRule(BaseModel):
    """One rule. `window` is the range the metric is measured over; the condition must hold
    for `for` before the alert fires (0: at once)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    metric: Metric
    scope: str = "global"
    operator: Operator = ">"
    threshold: float
    window: Duration = 300.0
    for_: Duration = Field(60.0, alias="for")
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: Annotations = Annotations()
    origin: Literal["config", "store", "budget", "slo"] = "config"
    # a second window the condition must also hold over (SLO burn rules: 1h and 5m)
    short_window: Duration | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not (RULE_NAME.match(v) or INSTANCE_NAME.match(v)):  # instances: rule[scope name]
            raise ValueError(f"bad rule name {v!r}: letters, digits and _ . : - (up to 80)")
        return v

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, v: Any) -> Any:
        if isinstance(v, str) and v not in METRICS:  # named, with what there is
            raise ValueError(f"unknown metric {v!r} (one of {', '.join(METRICS[:-1])} or "
                             f"{METRICS[-1]})")
        return v

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: str) -> str:
        kind, name = parse_scope(v)
        return "global" if kind == "global" else f"{kind}:{name}"

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if v < 1:
            raise ValueError("window must be at least 1s")
        return v

    @model_validator(mode="after")
    def _fits_metric(self) -> AlertRule:
        kind = self.scope_kind
        if self.metric in REQUEST_ONLY and kind not in ("global", "route"):
            raise ValueError(f"scope: {self.metric} is measured per route or globally, "
                             f"not per {kind}")
        if self.metric == "breaker_open" and kind == "route":
            raise ValueError("scope: breaker_open is per deployment, provider or global")
        if self.metric in GLOBAL_ONLY and kind != "global":
            raise ValueError(f"scope: {self.metric} is measured over all requests (global), "
                             f"not per {kind}")
        if self.metric in SLO_METRICS and (kind != "route" or self.wildcard):
            raise ValueError(f"scope: {self.metric} is measured per route (route:NAME)")
        if self.short_window is not None and (self.metric not in SLO_METRICS
                                              or self.operator not in (">", ">=")):
            raise ValueError("short_window is for slo_*_burn rules with > or >=")
        if kind in ("user", "key") and self.metric != "spend_vs_budget":
            raise ValueError(f"scope: {kind} scopes are for spend_vs_budget only")
        return self

    @property
    def scope_kind(self) -> str:
        return self.scope.partition(":")[0]

    @property
    def scope_name(self) -> str:
        return self.scope.partition(":")[2]

    @property
    def wildcard(self) -> bool:
        """One alert per route, deployment or provider (scope `kind:*`)."""
        return self.scope_name == "*" and self.scope_kind in SCOPE_KINDS

    def instance(self, name: str) -> AlertRule:
        """This wildcard rule for one route, deployment or provider: named `rule[name]`,
        labelled with it (so a silence can match `deployment=mistral/*`)."""
        kind = self.scope_kind
        return self.model_copy(update={"name": f"{self.name}[{name}]", "scope": f"{kind}:{name}",
                                       "labels": {**self.labels, kind: name}})

    def holds(self, value: float) -> bool:
        return COMPARE[self.operator](value, self.threshold)

    def condition(self) -> str:
        """"error_rate of deployment:x > 0.2 over 5m for 1m"."""
        unit = ("ms" if UNITS[self.metric] == "ms" else "%" if self.metric == "spend_vs_budget"
                else "x" if UNITS[self.metric] == "x" else "")
        text = f"{self.metric} of {self.scope} {self.operator} {self.threshold:g}{unit}"
        if self.metric not in ("spend_vs_budget", "breaker_open"):
            text += f" over {format_duration(self.window)}"
            if self.short_window is not None:
                text += f" and {format_duration(self.short_window)}"
        return text + (f" for {format_duration(self.for_)}" if self.for_ else "")

    def identity(self) -> dict[str, str]:
        """The labels that identify it (as in Alertmanager: alertname plus the rule's)."""
        return {**self.labels, "alertname": self.name, "rule": self.name.partition("[")[0],
                "severity": self.severity, "scope": self.scope, "metric": self.metric}

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def budget_rule_name(scope: str, period: str, threshold: int) -> str:
    """`budget:SCOPE:PERIOD:THRESHOLD`; for a scope that cannot stand in a rule name (every
    user, `user:*`; an id holding `@` or a space) `budget:KIND:PERIOD:THRESHOLD[ID]`, the
    form an alert of one of many takes."""
    plain = f"budget:{scope}:{period}:{threshold}"
    if RULE_NAME.match(plain):
        return plain
    kind, _, target = scope.partition(":")
    target = target.replace("[", "(").replace("]", ")")[:200]
    return f"budget:{kind}:{period}:{threshold}[{target}]"


def budget_rules(budgets: Iterable[Any]) -> list[AlertRule]:
    """One built-in rule per budget and threshold: spend_vs_budget >= threshold percent."""
    rules = []
    for b in budgets:
        for t in sorted(b.thresholds):
            severity = "critical" if t >= 100 else "warning" if t >= 80 else "info"
            scope = b.scope if b.scope == "global" else b.scope
            rules.append(AlertRule(
                name=budget_rule_name(b.scope, b.period, t),
                metric="spend_vs_budget", scope=scope, operator=">=", threshold=float(t),
                window=60.0, for_=0.0, severity=severity, origin="budget",
                labels={"budget": b.scope, "period": b.period},
                annotations=Annotations(
                    summary=f"{PERIOD_WORDS.get(b.period, b.period)} budget {b.scope} at "
                            f"{t}% of ${b.limit_usd}"),
            ))
    return rules


def check_references(rule: AlertRule, config: Any) -> str | None:
    """Why the rule's scope names nothing in `config`, or None when it does."""
    kind, name = rule.scope_kind, rule.scope_name
    if rule.wildcard:
        return None
    if kind == "route" and name not in config.routes:
        return f"unknown route {name!r}"
    if kind == "deployment" and name not in {d.id for d in config.deployments}:
        return f"unknown deployment {name!r}"
    if kind == "provider" and name not in config.providers:
        return f"unknown provider {name!r}"
    if rule.metric == "spend_vs_budget" and rule.origin != "budget" and not any(
            b.scope == rule.scope for b in config.budgets):
        return f"no [[budgets]] entry has scope {rule.scope!r}"
    return None


# --------------------------------------------------------------------------- notification config


class WebhookConfig(BaseModel):
    """Where notifications go. The URL often holds a secret (a Slack hook's path): give it
    in an environment variable with `url_env`, or inline with `url`; logs show only its
    host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "webhook"
    url: str | None = None
    url_env: str | None = None
    format: Literal["json", "slack"] = "json"
    timeout_s: float = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(5, ge=1, le=20)
    backoff_s: float = Field(1.0, ge=0, le=60)  # doubles after each failed attempt
    min_severity: Severity = "info"

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("a webhook needs `url` or `url_env` (one of them)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self


class AlertingConfig(BaseModel):
    """`[alerting]`: how often rules are evaluated and where notifications go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: float = Field(15.0, gt=0, le=3600)
    repeat_interval: Duration = 4 * 3600.0  # re-notify a firing, unacknowledged alert
    resolved_keep: Duration = 900.0  # a resolved alert shows this long, then is inactive
    budget_alerts: bool = True  # built-in rules for the budgets' thresholds
    webhooks: list[WebhookConfig] = Field(default_factory=list)
