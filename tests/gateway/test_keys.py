"""Caller keys: kept hashed in the control plane, merged with config keys, and each key's
route list, rpm, tpm and daily budget (on a virtual clock)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axtui.clock import VirtualClock
from axtui.config import parse_config
from axtui.engine.limits import DAY
from axtui.gateway.keys import (
    KEY_PREFIX,
    CallerKey,
    KeyProblem,
    KeyRing,
    config_keys,
    create_key,
    key_hash,
    key_id,
    revoke_key,
    stored_keys,
)
from axtui.records import NANO_PER_USD, ErrorKind, RequestRecord, Usage
from axtui.store.db import open_store

from .harness import deployment, openai_provider


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/keys.db")
    yield s
    s.close()


def ring(clock: VirtualClock, **limits) -> tuple[KeyRing, CallerKey]:
    key = CallerKey(id="k_test", name="t", **limits)
    return KeyRing(clock, {"h": key}), key


def record(key: str, cost_nano: int = 0, tokens: int = 0) -> RequestRecord:
    return RequestRecord(id="r", started_at=0, ended_at=0, route="chat", requested_route="chat",
                         key_id=key, cost_nano=cost_nano,
                         usage=Usage(prompt_tokens=tokens) if tokens else None)


def test_create_stores_only_the_hash_and_shows_the_key_once(store):
    key, entry = create_key(store, "ci", routes=["chat"], rpm=5,
                            budget_day_usd=Decimal("1.5"))
    assert key.startswith("axt-") and len(key) > 30
    snap = store.control_snapshot()
    assert list(snap.entries) == [KEY_PREFIX + key_hash(key)]
    assert key not in str(snap.model_dump())
    assert entry.id == key_id(key_hash(key)) and entry.id.startswith("k_")
    assert stored_keys(snap)[key_hash(key)].budget_day_usd == Decimal("1.5")
    assert store.events(kind="key_create")[0].detail == {"id": entry.id, "by": "cli"}


def test_names_are_unique_among_live_keys(store):
    create_key(store, "ci")
    with pytest.raises(KeyProblem, match="already exists"):
        create_key(store, "ci")
    revoke_key(store, "ci")
    create_key(store, "ci")  # a revoked name may be reused


def test_revoke_by_name_or_id_keeps_the_entry(store):
    _, a = create_key(store, "a")
    _, b = create_key(store, "b")
    assert revoke_key(store, "a").revoked
    assert revoke_key(store, b.id).name == "b"
    keys = stored_keys(store.control_snapshot())
    assert len(keys) == 2 and all(k.revoked for k in keys.values())
    with pytest.raises(KeyProblem, match="no live key"):
        revoke_key(store, "a")


def test_a_ring_requires_auth_once_any_key_exists_even_revoked(store):
    clock = VirtualClock()
    ring_ = KeyRing(clock)
    ring_.apply(store.control_snapshot())
    assert not ring_.auth_required
    key, _ = create_key(store, "a")
    revoke_key(store, "a")
    ring_.apply(store.control_snapshot())
    assert ring_.auth_required and len(ring_) == 0
    assert ring_.lookup(key).revoked
    assert ring_.lookup("axt-unknown") is None
    assert KeyRing(clock, required=True).auth_required


def test_config_keys_come_from_the_environment_and_join_store_keys(store):
    cfg = parse_config({
        "providers": {"p": openai_provider("http://127.0.0.1:9/v1")},
        "deployments": [deployment("p", "m")],
        "routes": {"chat": {"candidates": ["p/m"]}},
        "keys": [{"name": "svc", "key_env": "SVC_KEY", "routes": ["chat"], "rpm": 3}],
    })
    with pytest.raises(KeyProblem, match="SVC_KEY is not set"):
        config_keys(cfg, {})
    from_cfg = config_keys(cfg, {"SVC_KEY": "axt-svc"})
    ring_ = KeyRing(VirtualClock(), from_cfg)
    stored, _ = create_key(store, "other")
    ring_.apply(store.control_snapshot())
    svc = ring_.lookup("axt-svc")
    assert (svc.name, svc.source, svc.rpm, svc.routes) == ("svc", "config", 3,
                                                           frozenset({"chat"}))
    assert ring_.lookup(stored).name == "other"


def test_route_allow_list_is_a_no_route_refusal():
    clock = VirtualClock()
    r, key = ring(clock, routes=frozenset({"chat"}))
    assert r.admit(key, "chat") is None
    refusal = r.admit(key, "secret-route")
    assert refusal.kind is ErrorKind.no_route
    assert "does not exist or you do not have access" in refusal.message


def test_rpm_refuses_with_a_retry_after_and_refills():
    clock = VirtualClock()
    r, key = ring(clock, rpm=2)
    assert r.admit(key, "chat") is None and r.admit(key, "chat") is None
    refusal = r.admit(key, "chat")
    assert refusal.kind is ErrorKind.quota and refusal.retry_after_s == pytest.approx(30)
    assert r.remaining(key).remaining_requests == 0
    clock.advance(30)
    assert r.admit(key, "chat") is None


def test_tpm_counts_tokens_from_records():
    clock = VirtualClock()
    r, key = ring(clock, tpm=100)
    assert r.admit(key, "chat") is None
    r.on_record(record("k_test", tokens=150))  # post-paid: the window runs into debt
    assert r.admit(key, "chat").kind is ErrorKind.quota
    clock.advance(60)
    assert r.admit(key, "chat") is None


def test_daily_budget_counts_cost_and_resets_at_utc_midnight():
    clock = VirtualClock()  # starts at 00:00 UTC
    r, key = ring(clock, budget_day_usd=Decimal("0.01"))
    assert r.admit(key, "chat") is None
    r.on_record(record("k_test", cost_nano=NANO_PER_USD // 100))
    refusal = r.admit(key, "chat")
    assert refusal.kind is ErrorKind.budget
    assert "daily budget of $0.01" in refusal.message
    assert refusal.retry_after_s == pytest.approx(DAY)
    clock.advance(DAY)
    assert r.admit(key, "chat") is None


def test_spend_seeded_from_the_store_counts_today():
    clock = VirtualClock()
    r, key = ring(clock, budget_day_usd=Decimal("1"))
    r.seed_spend({"k_test": NANO_PER_USD, None: 5})
    assert r.admit(key, "chat").kind is ErrorKind.budget


def test_changing_a_keys_limits_keeps_its_spend():
    clock = VirtualClock()
    r, key = ring(clock, rpm=1, budget_day_usd=Decimal("1"))
    r.admit(key, "chat")
    r.on_record(record("k_test", cost_nano=NANO_PER_USD))
    wider = CallerKey(id="k_test", name="t", rpm=100, budget_day_usd=Decimal("1"))
    assert r.admit(wider, "chat").kind is ErrorKind.budget  # new rpm, same spend today
