"""Per-IP quotas at the gateway: the client is the socket's peer, or the X-Forwarded-For
client when the peer is a trusted proxy; a spoofed header from anyone else is ignored. The
admin API shows and resets a caller's quota."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .conftest import KEYS, Env, config_data
from .harness import ADMIN_ENV, ADMIN_TOKEN, Served, make_config, start_gateway, stop_gateway
from .test_admin import eventually

HELLO = [{"role": "user", "content": "hi"}]
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
FAKES = ("a", "b", "claude", "gem", "limited", "slow", "leaky")


def _gateway(env: Env, tmp_path, trusted: list[str]) -> Served:
    data = config_data({n: getattr(env, n) for n in FAKES}, f"sqlite:///{tmp_path}/ip.db")
    del data["keys"]  # open: the IP is the only thing that tells callers apart
    data["quotas"] = {"per_ip": {"rpm": 2}}
    data["gateway"]["trusted_proxies"] = trusted
    return env.loop.run(start_gateway(make_config(data), data["store"]["url"],
                                      environ={ADMIN_ENV: ADMIN_TOKEN}))


@pytest.fixture
def behind_proxy(env: Env, tmp_path) -> Iterator[Served]:
    """A gateway that trusts its loopback peer as a proxy."""
    served = _gateway(env, tmp_path, ["127.0.0.1/32"])
    yield served
    env.loop.run(stop_gateway(served))


@pytest.fixture
def facing_clients(env: Env, tmp_path) -> Iterator[Served]:
    """A gateway whose loopback peer is not one of its proxies."""
    served = _gateway(env, tmp_path, ["10.0.0.0/8"])
    yield served
    env.loop.run(stop_gateway(served))


def chat(served: Served, forwarded: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEYS['alice']}"}
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    return httpx.post(f"{served.base_url}/chat/completions", headers=headers,
                      json={"model": "chat", "messages": HELLO}, timeout=10)


def test_the_direct_peer_is_the_ip_counted_and_refused_with_a_named_429(behind_proxy):
    assert [chat(behind_proxy).status_code for _ in range(2)] == [200, 200]
    refused = chat(behind_proxy)
    assert refused.status_code == 429
    err = refused.json()["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "rate_limit_error"
    assert err["message"] == "ip rate limit: 2 requests per minute"
    assert int(refused.headers["retry-after"]) == 30
    assert refused.headers["x-ratelimit-limit-requests"] == "2"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_trusted_proxys_forwarded_client_is_counted_on_its_own(behind_proxy):
    assert chat(behind_proxy, "203.0.113.5").headers["x-ratelimit-remaining-requests"] == "1"
    assert chat(behind_proxy, "203.0.113.5").status_code == 200
    assert chat(behind_proxy, "203.0.113.5").status_code == 429
    # another client behind the same proxy, and the proxy itself, have their own allowance
    assert chat(behind_proxy, "203.0.113.6").status_code == 200
    assert chat(behind_proxy).status_code == 200


def test_a_client_cannot_pick_its_ip_by_prepending_to_the_proxys_header(behind_proxy):
    # the client wrote "198.51.100.1"; the proxy appended the peer it saw
    for _ in range(2):
        assert chat(behind_proxy, "198.51.100.1, 203.0.113.9").status_code == 200
    assert chat(behind_proxy, "198.51.100.2, 203.0.113.9").status_code == 429


def test_a_spoofed_forwarded_header_from_an_untrusted_peer_is_ignored(facing_clients):
    codes = [chat(facing_clients, f"203.0.113.{i}").status_code for i in range(1, 4)]
    assert codes == [200, 200, 429]  # all three counted against the peer, 127.0.0.1


def test_admin_shows_and_resets_one_ips_quota(behind_proxy):
    for _ in range(2):
        chat(behind_proxy, "203.0.113.7")
    url = f"{behind_proxy.url}/admin/ratelimit"
    r = httpx.get(url, params={"scope": "ip", "who": "203.0.113.7"}, headers=ADMIN)
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "process"
    [q] = body["quotas"]
    assert (q["scope"], q["who"]) == ("ip", "203.0.113.7")
    assert q["rpm"]["limit"] == 2 and q["rpm"]["remaining"] == 0
    reset = httpx.post(f"{url}/reset", json={"scope": "ip", "who": "203.0.113.7", "by": "ops"},
                       headers=ADMIN)
    assert reset.status_code == 200 and reset.json()["was_counted"] is True
    assert chat(behind_proxy, "203.0.113.7").status_code == 200
    assert eventually(lambda: any(
        e["subject"] == "ip:203.0.113.7" and e["detail"]["by"] == "ops"
        for e in httpx.get(f"{behind_proxy.url}/admin/events", params={"kind": "quota_reset"},
                           headers=ADMIN).json()["data"]))


def test_admin_names_a_bad_selector(behind_proxy):
    url = f"{behind_proxy.url}/admin/ratelimit"
    r = httpx.get(url, params={"scope": "ip", "who": "not-an-ip"}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["error"]["message"] == (
        "who: 'not-an-ip' is not an IP address")
    r = httpx.get(url, params={"scope": "user", "who": "u1"}, headers=ADMIN)
    assert r.status_code == 404
    assert "configure [quotas.per_user]" in r.json()["error"]["message"]
    r = httpx.get(url, params={"scope": "planet"}, headers=ADMIN)
    assert r.status_code == 400
