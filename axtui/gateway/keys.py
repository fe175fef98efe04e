"""Caller (virtual) keys: who may call the gateway, on which routes, how often, for how much.

A key is never kept: the store's control plane holds `key:<sha256 hex>` → its name and
limits, so every gateway process sharing the store sees a new or revoked key within one
control poll. Records carry `key_id` = `k_` + the first 12 hex digits of that hash. Keys
named in the config (`[[keys]]`, the key in the environment variable `key_env`) join them
in memory only, so removing one from the config removes it everywhere.

`KeyRing` is the gateway's view: lookup by hash, then `admit` checks the key's route
allow-list, its requests and tokens per minute, and its spend today (counted from records).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from axtui.engine.limits import DAY, MINUTE, RateWindow
from axtui.providers.base import RateLimitInfo
from axtui.records import NANO_PER_USD, ErrorKind, RequestRecord

if TYPE_CHECKING:
    from axtui.clock import Clock
    from axtui.config import Config
    from axtui.store.control import ControlSnapshot
    from axtui.store.db import Store

KEY_PREFIX = "key:"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(hash_hex: str) -> str:
    """What records and listings show for a key: never the key, never the whole hash."""
    return "k_" + hash_hex[:12]


def new_key() -> str:
    return "axt-" + secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class CallerKey:
    id: str
    name: str
    routes: frozenset[str] | None = None  # None: every route
    rpm: int | None = None
    tpm: int | None = None
    budget_day_usd: Decimal | None = None
    revoked: bool = False
    source: str = "store"  # "store" or "config"
    created_at: float | None = None
    region: str | None = None  # the caller's region, when its request names none
    region_policy: str = "prefer"  # "require": never served outside its region

    @property
    def budget_day_nano(self) -> int | None:
        return None if self.budget_day_usd is None else int(self.budget_day_usd * NANO_PER_USD)

    def allows(self, route: str) -> bool:
        return self.routes is None or route in self.routes

    def describe(self) -> dict[str, Any]:
        """For listings and --json: names, ids and limits; never the key or its hash."""
        return {
            "id": self.id, "name": self.name, "source": self.source,
            "routes": sorted(self.routes) if self.routes is not None else None,
            "rpm": self.rpm, "tpm": self.tpm,
            "budget_day_usd": str(self.budget_day_usd) if self.budget_day_usd is not None
            else None,
            "revoked": self.revoked, "created_at": self.created_at,
            "region": self.region, "region_policy": self.region_policy,
        }


def _from_value(hash_hex: str, v: Mapping[str, Any]) -> CallerKey:
    routes = v.get("routes")
    budget = v.get("budget_day_usd")
    return CallerKey(
        id=key_id(hash_hex), name=str(v.get("name") or ""),
        routes=frozenset(routes) if routes is not None else None,
        rpm=v.get("rpm"), tpm=v.get("tpm"),
        budget_day_usd=Decimal(str(budget)) if budget is not None else None,
        revoked=bool(v.get("revoked")), created_at=v.get("created_at"),
        region=v.get("region"), region_policy=v.get("region_policy") or "prefer",
    )


# --------------------------------------------------------------------------- operations


class KeyProblem(Exception):
    """A key operation that cannot be done; the message says why in one line."""


def stored_keys(snapshot: ControlSnapshot) -> dict[str, CallerKey]:
    """Hash → key, for every key in the control plane (revoked ones too)."""
    return {k[len(KEY_PREFIX):]: _from_value(k[len(KEY_PREFIX):], e.value)
            for k, e in snapshot.entries.items() if k.startswith(KEY_PREFIX)}


def config_keys(cfg: Config, environ: Mapping[str, str] | None = None) -> dict[str, CallerKey]:
    """Hash → key for the config's `[[keys]]`. Raises KeyProblem when a key's environment
    variable is unset: serving without a key the config names would be a silent hole."""
    env = os.environ if environ is None else environ
    out: dict[str, CallerKey] = {}
    for i, k in enumerate(cfg.keys):
        value = env.get(k.key_env)
        if not value:
            raise KeyProblem(f"keys[{i}] ({k.name}): environment variable {k.key_env} is not set")
        h = key_hash(value)
        out[h] = CallerKey(
            id=key_id(h), name=k.name,
            routes=frozenset(k.routes) if k.routes is not None else None,
            rpm=k.rpm, tpm=k.tpm, budget_day_usd=k.budget_day_usd, source="config",
            region=k.region, region_policy=k.region_policy,
        )
    return out


def create_key(
    store: Store,
    name: str,
    *,
    routes: list[str] | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    budget_day_usd: Decimal | None = None,
    region: str | None = None,
    region_policy: str = "prefer",
    by: str = "cli",
) -> tuple[str, CallerKey]:
    """A new key: stores its hash, limits and region (its requests' region when they name
    none; "require": never served elsewhere), returns (the key, shown once; its entry)."""
    if region_policy not in ("prefer", "require"):
        raise KeyProblem(f"region policy {region_policy!r}: expected prefer or require")
    if region_policy == "require" and region is None:
        raise KeyProblem("a key that requires its region needs a region")
    name = name.strip()
    if not name:
        raise KeyProblem("a key needs a name")
    live = [k for k in stored_keys(store.control_snapshot()).values() if not k.revoked]
    if any(k.name == name for k in live):
        raise KeyProblem(f"a key named {name!r} already exists")
    key = new_key()
    h = key_hash(key)
    now = store.clock.now()
    value = {
        "name": name, "routes": routes, "rpm": rpm, "tpm": tpm,
        "budget_day_usd": str(budget_day_usd) if budget_day_usd is not None else None,
        "created_at": now, "revoked": False, "region": region, "region_policy": region_policy,
    }
    store.set_control(KEY_PREFIX + h, value, by=by, expected_version=0)
    store.add_event("key_create", name, {"id": key_id(h), "by": by}, ts=now)
    return key, _from_value(h, value)


def revoke_key(store: Store, name_or_id: str, by: str = "cli") -> CallerKey:
    """Revoke a stored key by name or id. The entry stays (revoked), so a gateway that once
    required keys never falls back to serving without them."""
    snapshot = store.control_snapshot()
    for h, k in stored_keys(snapshot).items():
        if k.revoked or name_or_id not in (k.name, k.id):
            continue
        value = dict(snapshot.entries[KEY_PREFIX + h].value)
        value["revoked"] = True
        value["revoked_at"] = store.clock.now()
        store.set_control(KEY_PREFIX + h, value, by=by)
        store.add_event("key_revoke", k.name, {"id": k.id, "by": by})
        return _from_value(h, value)
    raise KeyProblem(f"no live key named or with id {name_or_id!r}")


# --------------------------------------------------------------------------- the gateway's view


@dataclass(frozen=True, slots=True)
class KeyRefusal:
    kind: ErrorKind  # no_route (not on the key's list), quota, budget
    message: str
    retry_after_s: float | None = None


class _KeyUsage:
    __slots__ = ("rpm", "tpm", "day", "spent_nano")

    def __init__(self, key: CallerKey) -> None:
        self.rpm = RateWindow(key.rpm, MINUTE) if key.rpm else None
        self.tpm = RateWindow(key.tpm, MINUTE) if key.tpm else None
        self.day = -1
        self.spent_nano = 0

    def matches(self, key: CallerKey) -> bool:
        return (self.rpm.limit if self.rpm else None) == key.rpm and (
            self.tpm.limit if self.tpm else None) == key.tpm


class KeyRing:
    """Config keys plus the store's, by hash; and each key's usage in this process.

    `apply` runs on the control poll's thread and only swaps one dict; usage is touched on
    the event loop only."""

    def __init__(self, clock: Clock, config_keys: dict[str, CallerKey] | None = None, *,
                 required: bool = False) -> None:
        self.clock = clock
        self._config = dict(config_keys or {})
        self._required = required
        self._by_hash: dict[str, CallerKey] = dict(self._config)
        self._usage: dict[str, _KeyUsage] = {}
        self._spent_seed: dict[str, int] = {}

    def apply(self, snapshot: ControlSnapshot) -> None:
        self._by_hash = {**stored_keys(snapshot), **self._config}

    def apply_control(self, snapshot: ControlSnapshot) -> None:  # as a ControlSync target
        self.apply(snapshot)

    @property
    def auth_required(self) -> bool:
        """Once any key exists (revoked ones too), every request needs one."""
        return self._required or bool(self._by_hash)

    def __len__(self) -> int:
        return sum(1 for k in self._by_hash.values() if not k.revoked)

    def lookup(self, token: str) -> CallerKey | None:
        return self._by_hash.get(key_hash(token))

    def keys(self) -> list[CallerKey]:
        return sorted(self._by_hash.values(), key=lambda k: (k.name, k.id))

    def seed_spend(self, spent_today: Mapping[str | None, int]) -> None:
        """Start from what keys already spent today (from the store's records)."""
        day = int(self.clock.now() // DAY)
        for kid, nano in spent_today.items():
            if kid:
                u = self._usage.setdefault(kid, _KeyUsage(CallerKey(kid, "")))
                u.day, u.spent_nano = day, nano

    # -- the hot path

    def admit(self, key: CallerKey, route: str) -> KeyRefusal | None:
        """Refuse, or admit and count one request against the key's rpm."""
        if not key.allows(route):
            return KeyRefusal(ErrorKind.no_route, _no_access(route))
        if key.rpm is None and key.tpm is None and key.budget_day_usd is None:
            return None
        u = self._usage_of(key)
        now = self.clock.monotonic()
        if u.rpm is not None and not u.rpm.fits(now, 1):
            return KeyRefusal(ErrorKind.quota,
                              f"key {key.name} rate limit: {key.rpm} requests per minute",
                              u.rpm.wait_s(now, 1))
        if u.tpm is not None and not u.tpm.fits(now, 1):
            return KeyRefusal(ErrorKind.quota,
                              f"key {key.name} token limit: {key.tpm} tokens per minute",
                              u.tpm.wait_s(now, 1))
        limit = key.budget_day_nano
        if limit is not None:
            wall = self.clock.now()
            spent = u.spent_nano if u.day == int(wall // DAY) else 0
            if spent >= limit:
                return KeyRefusal(
                    ErrorKind.budget,
                    f"key {key.name} daily budget of ${key.budget_day_usd} is spent; it resets "
                    "at 00:00 UTC",
                    DAY - wall % DAY)
        if u.rpm is not None:
            u.rpm.take(now, 1)
        return None

    def on_record(self, record: RequestRecord) -> None:
        """Count a finished request's tokens and cost against its key (an engine listener)."""
        kid = record.key_id
        if kid is None or (not record.cost_nano and record.usage is None):
            return
        u = self._usage.get(kid)
        if u is None:
            return  # a key without limits: nothing to count
        if u.tpm is not None and record.usage is not None:
            u.tpm.take(self.clock.monotonic(), record.usage.total_tokens)
        if record.cost_nano:
            day = int(self.clock.now() // DAY)
            if u.day != day:
                u.day, u.spent_nano = day, 0
            u.spent_nano += record.cost_nano

    def remaining(self, key: CallerKey) -> RateLimitInfo | None:
        """The key's own request/token windows, for x-ratelimit-* headers."""
        u = self._usage.get(key.id)
        if u is None or (u.rpm is None and u.tpm is None):
            return None
        now = self.clock.monotonic()
        info = RateLimitInfo()
        if u.rpm is not None:
            info.limit_requests, info.remaining_requests = u.rpm.limit, u.rpm.remaining(now)
            info.reset_requests_s = u.rpm.reset_s(now)
        if u.tpm is not None:
            info.limit_tokens, info.remaining_tokens = u.tpm.limit, u.tpm.remaining(now)
            info.reset_tokens_s = u.tpm.reset_s(now)
        return info

    def _usage_of(self, key: CallerKey) -> _KeyUsage:
        u = self._usage.get(key.id)
        if u is None or not u.matches(key):  # new, or its limits changed
            fresh = _KeyUsage(key)
            if u is not None:
                fresh.day, fresh.spent_nano = u.day, u.spent_nano
            u = self._usage[key.id] = fresh
        return u


def _no_access(route: str) -> str:
    # OpenAI's wording for a model a key may not use: the same 404 as an unknown one.
    return f"The model `{route}` does not exist or you do not have access to it."
