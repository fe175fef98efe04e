"""Flag evaluation on the request path.

`FlagSet` is an immutable compilation of the control plane's flags (plus this process's
environment overrides), indexed by route, built when the control plane changes. Per request
the engine asks `effects(route, ...)`: one dict lookup when no flag touches the route.
Evaluation never raises: a problem gives the default ("off") with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from axtui.config import Config
from axtui.flags.bucketing import in_cohort, variant_index
from axtui.flags.model import FLAG_PREFIX, EnvOverride, EnvOverrides, FlagState, tenths

log = logging.getLogger(__name__)

ENV_SUFFIX = "(env)"


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    name: str
    kind: str  # capability | split | force
    salt: str
    pct_tenths: int  # effective: env override, kill and enabled already applied
    stickiness: str
    deployment: str | None
    capability: str | None
    variants: tuple[tuple[str, str], ...] = ()  # (variant name, deployment) for a split
    weights: tuple[float, ...] = ()
    env: EnvOverride | None = None
    grant: frozenset[tuple[str, str]] = frozenset()  # (deployment, capability)


@dataclass(frozen=True, slots=True)
class Evaluation:
    variant: str  # "on", "off", or a split variant's name; "(env)" appended when overridden
    in_cohort: bool
    deployment: str | None  # where the cohort goes (split, force)
    reason: str
    per_request: bool = False  # no user and no key: bucketed by the request id


def unit_id(stickiness: str, user: str | None, key_id: str | None,
            request_id: str) -> tuple[str, bool]:
    """(the id a unit is bucketed by, whether that is the request itself)."""
    first, second = (user, key_id) if stickiness == "user" else (key_id, user)
    uid = first or second
    return (uid, False) if uid else (request_id, True)


def evaluate(flag: CompiledFlag, user: str | None, key_id: str | None,
             request_id: str) -> Evaluation:
    """The variant of one unit. Never raises: on any problem, "off" with the reason."""
    try:
        uid, per_request = unit_id(flag.stickiness, user, key_id, request_id)
        suffix = ENV_SUFFIX if flag.env is not None else ""
        if not in_cohort(flag.salt, uid, flag.pct_tenths):
            return Evaluation("off" + suffix, False, None, "outside the cohort", per_request)
        if flag.variants:
            name, dep = flag.variants[variant_index(flag.salt, uid, flag.weights)]
            return Evaluation(name + suffix, True, dep, "in the cohort", per_request)
        return Evaluation("on" + suffix, True, flag.deployment, "in the cohort", per_request)
    except Exception as e:  # a bad id or state must never break a request
        log.warning("flag %s: evaluation failed: %s", flag.name, e)
        return Evaluation("off", False, None, f"error: {type(e).__name__}: {e}")


def in_cohort_variant(variant: str) -> bool:
    """Whether a recorded variant is the cohort's (env-overridden ones are neither side)."""
    return not variant.startswith("off") and not variant.endswith(ENV_SUFFIX)


@dataclass(slots=True)
class RouteEffects:
    """What the flags touching one route decided for one request."""

    variants: dict[str, str] = field(default_factory=dict)
    grants: frozenset[tuple[str, str]] = frozenset()
    prefer: str | None = None  # split: this deployment first
    only: str | None = None  # force: this deployment alone
    by: str | None = None  # the flag that steered
    per_request: int = 0


@dataclass(frozen=True, slots=True)
class FlagSet:
    flags: Mapping[str, CompiledFlag]
    by_route: Mapping[str, tuple[CompiledFlag, ...]]
    states: Mapping[str, FlagState]
    problems: tuple[str, ...] = ()

    @classmethod
    def empty(cls) -> FlagSet:
        return cls({}, {}, {})

    def effects(self, route: str, caps: frozenset[str], user: str | None,
                key_id: str | None, request_id: str) -> RouteEffects | None:
        """The flags' decision for a request on `route` needing `caps`; None when no flag
        touches it."""
        flags = self.by_route.get(route)
        if not flags:
            return None
        out = RouteEffects()
        grants: set[tuple[str, str]] = set()
        for f in flags:
            if f.kind == "capability" and f.capability not in caps:
                continue  # the grant cannot matter to this request: not part of the test
            ev = evaluate(f, user, key_id, request_id)
            out.variants[f.name] = ev.variant
            out.per_request += ev.per_request
            if not ev.in_cohort:
                continue
            if f.kind == "capability":
                grants |= f.grant
            elif f.kind == "force" and out.only is None:
                out.only, out.prefer, out.by = ev.deployment, None, f.name
            elif f.kind == "split" and out.only is None and out.prefer is None:
                out.prefer, out.by = ev.deployment, f.name
        if not out.variants:
            return None  # only capability flags the request does not need: untouched
        if grants:
            out.grants = frozenset(grants)
        return out

    @classmethod
    def build(cls, states: Iterable[FlagState], config: Config,
              capabilities: Mapping[str, frozenset[str]],
              overrides: EnvOverrides | None = None) -> FlagSet:
        """Compile flag states for an engine serving `config` (`capabilities`: what each
        deployment's catalog entry claims). A flag this engine cannot apply is skipped with
        a problem line, never an exception."""
        overrides = overrides or EnvOverrides({})
        flags: dict[str, CompiledFlag] = {}
        by_route: dict[str, list[CompiledFlag]] = {}
        kept: dict[str, FlagState] = {}
        problems: list[str] = list(overrides.problems)
        for st in sorted(states, key=lambda s: s.name):
            why = _unusable(st, config, capabilities)
            if why:
                problems.append(f"flag {st.name}: {why}")
                continue
            compiled = _compile(st, overrides.get(st.name))
            flags[st.name] = compiled
            kept[st.name] = st
            for route in _routes_of(st, config):
                by_route.setdefault(route, []).append(compiled)
        for var in overrides.unmatched(list(flags)):
            problems.append(f"{var}: no such flag here")
        return cls(flags, {r: tuple(fs) for r, fs in by_route.items()}, kept, tuple(problems))

    @classmethod
    def from_snapshot(cls, snapshot, config: Config,
                      capabilities: Mapping[str, frozenset[str]],
                      overrides: EnvOverrides | None = None, *, now: float = 0.0) -> FlagSet:
        """Config-defined flags at their configured state, overlaid by the store's (a store
        entry always wins: it is the operator's state)."""
        states = {name: FlagState.seeded(name, fc, by="config", now=now)
                  for name, fc in config.flags.items()}
        problems: list[str] = []
        entries = snapshot.entries.items() if snapshot is not None else ()
        for key, entry in entries:
            if not key.startswith(FLAG_PREFIX):
                continue
            try:
                st = FlagState.model_validate(entry.value)
            except ValidationError as e:
                problems.append(f"{key}: unreadable ({e.error_count()} problems); skipped")
                continue
            states[st.name] = st
        built = cls.build(states.values(), config, capabilities, overrides)
        if problems:
            return cls(built.flags, built.by_route, built.states, built.problems + tuple(problems))
        return built


def _unusable(st: FlagState, config: Config, capabilities: Mapping[str, frozenset[str]]
              ) -> str | None:
    e = st.definition.effect
    if e.route is not None and e.route not in config.routes:
        return f"route {e.route!r} is not served here"
    for d in e.deployments():
        if d not in capabilities:
            return f"deployment {d!r} is not served here"
    if e.kind == "capability" and e.capability in capabilities[e.deployment or ""]:
        return f"{e.deployment} already has {e.capability}: nothing to gate"
    return None


def _routes_of(st: FlagState, config: Config) -> list[str]:
    e = st.definition.effect
    if e.kind != "capability":
        return [e.route or ""]
    if e.route is not None:
        return [e.route] if e.deployment in config.routes[e.route].candidates else []
    return [name for name, r in config.routes.items() if e.deployment in r.candidates]


def _compile(st: FlagState, env: EnvOverride | None) -> CompiledFlag:
    e = st.definition.effect
    pct = env.pct if env is not None else st.effective_pct
    grant = frozenset({(e.deployment, e.capability)}) if e.kind == "capability" else frozenset()
    return CompiledFlag(
        name=st.name, kind=e.kind, salt=st.salt, pct_tenths=tenths(pct),
        stickiness=st.definition.stickiness, deployment=e.deployment, capability=e.capability,
        variants=tuple((v.name, v.deployment) for v in e.variants),
        weights=tuple(v.weight for v in e.variants), env=env, grant=grant,  # type: ignore[arg-type]
    )
