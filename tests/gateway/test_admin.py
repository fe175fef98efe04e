"""The admin API (its own token; off without one), drains through the control plane, and
caller keys that appear or are revoked in the store while the gateway runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import openai
import pytest

from axtui.engine import control
from axtui.gateway.keys import create_key, revoke_key
from axtui.store.db import open_store

from .conftest import KEYS, Env, config_data
from .harness import ADMIN_TOKEN, make_config, start_gateway, stop_gateway

HELLO = [{"role": "user", "content": "hi"}]
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def admin(env: Env, method: str, path: str, json=None, headers=ADMIN) -> httpx.Response:
    return httpx.request(method, f"{env.url}/admin{path}", json=json, headers=headers,
                         timeout=10)


def served_by(env: Env, key: str = KEYS["alice"]) -> str:
    raw = env.client(key).chat.completions.with_raw_response.create(model="chat",
                                                                     messages=HELLO)
    return raw.headers["x-axtui-deployment"]


def eventually(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_admin_is_refused_without_the_token(env: Env):
    assert admin(env, "GET", "/status", headers={}).status_code == 401
    r = admin(env, "GET", "/status", headers={"authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_admin_token"
    # a caller key is not an admin token
    assert admin(env, "GET", "/status", headers={
        "authorization": f"Bearer {KEYS['alice']}"}).status_code == 401


def test_status_snapshot(env: Env):
    served_by(env)
    r = admin(env, "GET", "/status")
    assert r.status_code == 200
    s = r.json()
    deps = {d["id"]: d for d in s["deployments"]}
    assert deps["a/gpt-a"]["breaker"] == "closed"
    assert deps["a/gpt-a"]["drained"] is None
    assert deps["a/gpt-a"]["health"]["attempts"] >= 1
    assert s["routes"]["chat"]["candidates"] == ["a/gpt-a", "b/gpt-b"]
    assert s["auth"] == {"required": True, "keys": 4}
    assert s["recorder"]["dropped"] == 0
    assert s["control"]["errors"] == 0


def test_a_drain_needs_a_reason_and_a_known_deployment(env: Env):
    r = admin(env, "POST", "/deployments/a/gpt-a/drain", json={"by": "me"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "reason"
    assert admin(env, "POST", "/deployments/nope/drain", json={"reason": "x"}).status_code \
        == 404
    assert admin(env, "GET", "/deployments/a/gpt-a/drain").status_code == 405


def test_drain_takes_a_deployment_out_and_is_audited(env: Env):
    assert served_by(env) == "a/gpt-a"
    r = admin(env, "POST", "/deployments/a/gpt-a/drain",
              json={"reason": "elevated 500s", "by": "oncall-ana"})
    assert r.status_code == 200
    assert r.json()["drained"] is True
    try:
        assert served_by(env) == "b/gpt-b"  # the very next request
        status = {d["id"]: d for d in admin(env, "GET", "/status").json()["deployments"]}
        assert status["a/gpt-a"]["drained"] == "elevated 500s"
        events = admin(env, "GET", "/events?kind=drain&limit=5").json()["data"]
        assert events[0]["subject"] == "a/gpt-a"
        assert events[0]["detail"] == {"reason": "elevated 500s", "by": "oncall-ana"}
    finally:
        r = admin(env, "POST", "/deployments/a/gpt-a/undrain", json={"by": "oncall-ana"})
    assert r.json()["undrained"] is True
    assert served_by(env) == "a/gpt-a"
    assert admin(env, "GET", "/events?kind=undrain").json()["data"][0]["subject"] == "a/gpt-a"


def test_a_drain_written_by_another_process_applies_within_a_poll(env: Env):
    store = open_store(env.served.store_url)
    try:
        control.drain(store, "a/gpt-a", "from the console", by="console")
        assert eventually(lambda: served_by(env) == "b/gpt-b")
    finally:
        control.undrain(store, "a/gpt-a", by="console")
        store.close()
    assert eventually(lambda: served_by(env) == "a/gpt-a")


def test_readyz_is_503_when_nothing_is_routable(env: Env):
    deps = [d["id"] for d in admin(env, "GET", "/status").json()["deployments"]]
    for d in deps:
        admin(env, "POST", f"/deployments/{d}/drain", json={"reason": "maintenance"})
    try:
        r = httpx.get(env.url + "/readyz")
        assert r.status_code == 503
        assert "no deployment is routable" in r.json()["problems"][0]
        with pytest.raises(openai.InternalServerError) as e:
            env.client().chat.completions.create(model="chat", messages=HELLO)
        assert e.value.status_code == 503
        assert "drained: maintenance" in e.value.message
    finally:
        for d in deps:
            admin(env, "POST", f"/deployments/{d}/undrain")
    assert httpx.get(env.url + "/readyz").status_code == 200


def test_readyz_names_a_route_that_can_serve_nothing(env: Env):
    admin(env, "POST", "/deployments/slow/s/drain", json={"reason": "maintenance"})
    try:
        r = httpx.get(env.url + "/readyz")
        assert r.status_code == 200  # other routes serve
        assert r.json()["unservable"] == {"slow": "every deployment out: 1 drained"}
    finally:
        admin(env, "POST", "/deployments/slow/s/undrain")
    assert httpx.get(env.url + "/readyz").json()["unservable"] == {}


def test_readiness_fails_when_every_route_is_out_on_faults_but_not_on_429s():
    from axtui.gateway.app import no_route_serves

    out = {"chat": "every deployment out: 2 breaker open", "eu": "every deployment out: 1 drained"}
    assert no_route_serves(out, 2).startswith("no route can serve: chat: every deployment out")
    assert no_route_serves(out, 3) is None  # a third route still serves
    cooling = {**out, "eu": "every deployment out: 1 rate limited (soonest retry in 8.0s)"}
    assert no_route_serves(cooling, 2) is None  # callers get 429 with retry-after


def test_events_limit_is_validated(env: Env):
    assert admin(env, "GET", "/events?limit=0").status_code == 400


def test_a_key_created_in_the_store_works_at_once_and_revoking_it_locks_it_out(env: Env):
    store = open_store(env.served.store_url)
    try:
        key, entry = create_key(store, "ci-bot", routes=["chat"], rpm=100)
        assert entry.id.startswith("k_") and key.startswith("axt-")
        assert eventually(lambda: _status(env, key) == 200)
        rec = env.client(key).chat.completions.with_raw_response.create(model="chat",
                                                                        messages=HELLO)
        assert rec.headers["x-ratelimit-limit-requests"] == "100"
        revoke_key(store, "ci-bot")
        assert eventually(lambda: _status(env, key) == 401)
        with pytest.raises(openai.AuthenticationError) as e:
            env.client(key).chat.completions.create(model="chat", messages=HELLO)
        assert "revoked" in e.value.message
    finally:
        store.close()


def _status(env: Env, key: str) -> int:
    return httpx.post(f"{env.base_url}/chat/completions", headers={
        "authorization": f"Bearer {key}"}, json={"model": "chat", "messages": HELLO}).status_code


def test_without_keys_or_admin_token_it_serves_openly_and_admin_is_off(env: Env, tmp_path):
    data = config_data({n: getattr(env, n) for n in
                        ("a", "b", "claude", "gem", "limited", "slow", "leaky")},
                       f"sqlite:///{tmp_path}/open.db")
    del data["keys"]
    open_gw = env.loop.run(start_gateway(make_config(data), data["store"]["url"], environ={}))
    try:
        client = openai.OpenAI(base_url=open_gw.base_url, api_key="anything", max_retries=0)
        assert client.chat.completions.create(model="chat", messages=HELLO).choices
        r = httpx.get(f"{open_gw.url}/admin/status", headers=ADMIN)
        assert r.status_code == 404
        assert "admin API is off" in r.json()["error"]["message"]
    finally:
        env.loop.run(stop_gateway(open_gw))
