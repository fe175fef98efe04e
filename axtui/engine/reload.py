"""A config reload inside one engine: the new routing table is built aside, then swapped in
one synchronous step (no await between), so each request sees the old table or the new one,
never a mix. Requests already walking keep the Failover (and its routes) they started with.

Live state survives for what still exists: a deployment keeps its health, breaker and
headroom (a new headroom when its limits changed), a caller its quota counters (under the
new limits), a budget its spend (same scope and period), the drains and flags of the
control plane, the record listeners (recorder, key ring, cache).

What a running process cannot take live is `RESTART_ONLY`: those sections keep their
running values (`pin_restart_only`) and are named in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from axtui.engine.budget import Budgets, _Budget
from axtui.engine.catalog import Catalog
from axtui.engine.outcome import Outcomes
from axtui.engine.plan import Planner
from axtui.engine.select import DeploymentState, RouteState
from axtui.engine.walk import Failover

if TYPE_CHECKING:
    from axtui.config import Config
    from axtui.engine.engine import Engine

# Config sections a running process keeps until a restart, and why.
RESTART_ONLY: dict[str, str] = {
    "gateway": "the listen address, limits and admin token are set when the server starts",
    "store": "the store URL and recorder are opened once",
    "redis": "the Redis link is opened once",
    "metrics": "the metrics exporter starts once",
    "keys": "caller keys are read from the environment at start",
    "trace": "the trace file is opened once",
    "retention": "upkeep jobs start once",
    "alerting": "the evaluation interval and the webhooks are set when the alert evaluator "
                "starts",
    "console": "read by the console at its start",
}
WORKERS_NOTE = "--workers: the number of processes is the supervisor's, fixed until a restart"


def pin_restart_only(old: Config, new: Config) -> tuple[Config, dict[str, str]]:
    """`new` with every RESTART_ONLY section set back to `old`'s; the changed ones, named
    with why they wait for a restart."""
    waiting = {name: why for name, why in RESTART_ONLY.items()
               if getattr(old, name) != getattr(new, name)}
    if not waiting:
        return new, {}
    return new.model_copy(update={n: getattr(old, n) for n in waiting}), waiting


@dataclass
class ConfigDiff:
    routes: dict[str, Any] = field(default_factory=dict)  # added, removed, changed
    deployments: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)  # quotas, budgets, per-deployment
    flags: dict[str, Any] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)  # other sections that changed

    def empty(self) -> bool:
        return not (self.routes or self.deployments or self.limits or self.flags
                    or self.other)

    def as_dict(self) -> dict[str, Any]:
        return {"routes": self.routes, "deployments": self.deployments,
                "limits": self.limits, "flags": self.flags, "other": self.other}


def _keyed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Added, removed and changed names (changed: each field's old and new value)."""
    out: dict[str, Any] = {}
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    changed = {}
    for name in sorted(set(old) & set(new)):
        a, b = _dump(old[name]), _dump(new[name])
        if a != b:
            changed[name] = {k: {"old": a.get(k), "new": b.get(k)}
                             for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    if changed:
        out["changed"] = changed
    return out


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json") if model is not None else {}


def diff(old: Config, new: Config) -> ConfigDiff:
    """What a reload changes, as the audit event shows it."""
    d = ConfigDiff()
    d.routes = _keyed(old.routes, new.routes)
    deps = _keyed({x.id: x for x in old.deployments}, {x.id: x for x in new.deployments})
    provs = _keyed(old.providers, new.providers)
    if provs:
        deps["providers"] = provs
    d.deployments = deps
    if old.quotas != new.quotas:
        d.limits["quotas"] = {"old": _dump(old.quotas), "new": _dump(new.quotas)}
    if old.budgets != new.budgets:
        d.limits["budgets"] = {"old": [_dump(b) for b in old.budgets],
                               "new": [_dump(b) for b in new.budgets]}
    d.flags = _keyed(old.flags, new.flags)
    seen = {"routes", "deployments", "providers", "quotas", "budgets", "flags"}
    d.other = sorted(n for n in type(new).model_fields
                     if n not in seen and getattr(old, n) != getattr(new, n))
    return d


def swap(engine: Engine, config: Config) -> None:
    """Build the engine's routing state for `config` aside, then swap it in at once."""
    from axtui.providers import build_provider

    old = engine.config
    catalog = Catalog(config)
    providers = dict(engine.providers)
    sim_models: dict[str, dict] = {}
    for d in config.deployments:
        if d.sim is not None:
            sim_models.setdefault(d.provider, {})[d.model] = d.sim
    for name, pcfg in config.providers.items():
        same = name in old.providers and old.providers[name] == pcfg and (
            pcfg.protocol != "sim" or _sims(old, name) == sim_models.get(name))
        if name in providers and (same or engine.injected_providers):
            continue
        if engine.injected_providers:
            raise ValueError(f"provider {name!r}: this engine's providers were given to it, "
                             "it builds none")
        if pcfg.protocol != "sim" and engine.http_client is None:
            from axtui.providers.transport import make_http_client

            engine.http_client = make_http_client()
            engine._own_client = True
        if name in providers:  # replaced: closed with the engine, once nothing uses it
            engine.retired_providers.append(providers[name])
        providers[name] = build_provider(name, pcfg, engine.http_client, engine.clock,
                                         sim_models.get(name))
    deployments: dict[str, DeploymentState] = {}
    for spec in catalog:
        was = engine.deployments.get(spec.id)
        fresh = engine._state_for(spec, config=config, providers=providers)
        if was is not None:
            fresh.health, fresh.breaker, fresh.drained = was.health, was.breaker, was.drained
            if _limits(old, spec.id) == _limits(config, spec.id):
                fresh.headroom = was.headroom
        deployments[spec.id] = fresh
    routes = {name: RouteState(name, r, [deployments[c] for c in r.candidates])
              for name, r in config.routes.items()}
    budgets = _carry_budgets(engine, config)
    planner = Planner(config)
    outcomes = Outcomes(config, engine.clock, routes, budgets, engine.quotas)
    outcomes.listeners = engine.outcomes.listeners  # the same list: recorder, keys, cache
    outcomes.stopping = engine.outcomes.stopping
    failover = Failover(routes, engine.clock, engine.rng, engine._choose, outcomes,
                        config.routing)
    capabilities = {spec.id: spec.capabilities for spec in catalog}
    cache = engine.cache
    if _caches(old) != _caches(config):  # a route's cache settings changed: a new cache
        from axtui.cache import ResponseCache

        cache = ResponseCache.from_config(config, engine.clock)
    # ---- the swap: nothing awaits from here on
    engine.quotas.relimit(config.quotas)
    engine.config, engine.catalog, engine.providers = config, catalog, providers
    engine.deployments, engine.routes, engine.budgets = deployments, routes, budgets
    engine.planner, engine.outcomes, engine.failover = planner, outcomes, failover
    engine._capabilities = capabilities
    engine._transcriptions = None
    if cache is not engine.cache:
        if engine.cache is not None:
            engine.off_record(engine.cache.on_record)
        engine.cache = cache
        if cache is not None:
            engine.on_record(cache.on_record)
    engine.reapply_control()


def _caches(config: Config) -> dict[str, Any]:
    return {name: r.cache for name, r in config.routes.items()}


def _sims(config: Config, provider: str) -> dict:
    return {d.model: d.sim for d in config.deployments
            if d.provider == provider and d.sim is not None}


def _limits(config: Config, dep_id: str) -> tuple:
    d = config.deployment(dep_id)
    p = config.providers[d.provider]
    return (d.rpm, d.tpm, p.rpm, p.tpm, p.free_tier, config.routing.learned_limit_s)


def _carry_budgets(engine: Engine, config: Config) -> Budgets:
    """New budgets; one with the same scope and period keeps what it has counted."""
    budgets = Budgets(engine.clock, config.budgets, engine._on_budget_threshold)
    olds = {(b.cfg.scope, b.cfg.period): b for b in engine.budgets._budgets}
    kept: list[_Budget] = []
    for b in budgets._budgets:
        was = olds.get((b.cfg.scope, b.cfg.period))
        if was is not None:
            b.spent, b.crossed = was.spent, was.crossed
            b.period_start, b.period_end = was.period_start, was.period_end
        kept.append(b)
    budgets._budgets = kept
    return budgets
