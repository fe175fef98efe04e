"""What cost analytics answers with: frozen models, money in integer nano-dollars."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

By = Literal["provider", "model", "deployment", "route", "user", "key", "complexity", "region"]
BY: tuple[str, ...] = By.__args__  # type: ignore[attr-defined]
NONE_LABEL = "(none)"  # a record without a user, key or complexity

# deployment id -> (provider, model); built from the config by `deployment_names`
DeploymentNames = Mapping[str, tuple[str, str]]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Line(Frozen):
    key: str
    requests: int  # attempts when grouped by provider, model or deployment
    cost_nano: int
    share: float  # of the breakdown's total cost (0 when the total is 0)


class Breakdown(Frozen):
    by: str
    since: float
    until: float
    counted: Literal["requests", "attempts"]
    total_nano: int
    requests: int
    lines: list[Line]  # by cost, highest first


class Opportunity(Frozen):
    """A route's requests served by one deployment, against the cheapest capable one."""

    route: str
    deployment: str
    requests: int
    cost_nano: int
    optimal_cost_nano: int
    overspend_nano: int


class RouteOptimal(Frozen):
    route: str
    requests: int
    cost_nano: int
    optimal_cost_nano: int
    overspend_nano: int


class Optimal(Frozen):
    since: float
    until: float
    cost_nano: int
    optimal_cost_nano: int
    overspend_nano: int
    overspend_fraction: float | None  # of the actual cost
    routes: list[RouteOptimal]  # by overspend, highest first
    top: list[Opportunity]  # the pairs that overspend most (overspend > 0 only)


def deployment_names(cfg: Any) -> dict[str, tuple[str, str]]:
    """Each configured deployment's (provider, model)."""
    return {d.id: (d.provider, d.model) for d in cfg.deployments}


def deployment_regions(cfg: Any) -> dict[str, str | None]:
    """Each configured deployment's region (None where the config gives none)."""
    return {d.id: d.region for d in cfg.deployments}


def provider_model(deployment: str, names: DeploymentNames | None) -> tuple[str, str]:
    """A deployment's (provider, model): from the config when known, else read off the
    default `provider/model` id."""
    if names and deployment in names:
        return names[deployment]
    provider, sep, model = deployment.partition("/")
    return (provider, model) if sep else (deployment, deployment)


@contextmanager
def connection(source: Any) -> Iterator[Connection]:
    """A Store or an open Connection, as a connection."""
    if isinstance(source, Connection):
        yield source
    else:
        with source.connect() as conn:
            yield conn
