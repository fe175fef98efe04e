"""Quotas per client IP, per route and over everything, beside per user and per key: a
request must fit every quota that applies, and a refusal names the one that did not."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axtui.clock import VirtualClock
from axtui.config import ConfigError, QuotaLimits, parse_config
from axtui.engine.limits import GLOBAL, CallerQuotas
from axtui.records import NANO_PER_USD


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def test_ip_rpm_counts_each_address_apart(clock):
    q = CallerQuotas(clock, per_ip=QuotaLimits(rpm=1))
    assert q.enabled
    assert q.check(None, None, ip="10.0.0.1").ok
    d = q.check("someone-else", None, ip="10.0.0.1")
    assert not d.ok and d.scope == "ip" and d.reason == "ip rate limit: 1 requests per minute"
    assert q.check(None, None, ip="10.0.0.2").ok
    assert q.check(None, None).ok  # no address known: the ip quota does not apply


def test_a_route_quota_limits_that_route_only_and_names_it(clock):
    q = CallerQuotas(clock, per_route={"chat": QuotaLimits(rpm=1)})
    assert q.check("u1", None, route="chat").ok
    d = q.check("u2", None, route="chat")  # shared by every caller of the route
    assert not d.ok and d.scope == "route"
    assert d.reason == "route chat rate limit: 1 requests per minute"
    assert q.check("u1", None, route="code").ok


def test_the_global_quota_refuses_every_caller_once_spent(clock):
    q = CallerQuotas(clock, global_=QuotaLimits(spend_day_usd=Decimal("1")))
    assert q.check("u1", "k1", ip="10.0.0.1", route="chat").ok
    q.record("u1", "k1", tokens=10, cost_nano=NANO_PER_USD, ip="10.0.0.1", route="chat")
    d = q.check("u2", "k2", ip="10.0.0.2", route="code")
    assert not d.ok and d.scope == "global"
    assert d.reason == "global daily spend limit reached ($1)"
    assert d.retry_after_s == pytest.approx(86_400 - clock.now() % 86_400)


def test_a_refusal_by_a_later_scope_takes_no_request_from_the_earlier_ones(clock):
    q = CallerQuotas(clock, per_key=QuotaLimits(rpm=2), global_=QuotaLimits(rpm=1))
    assert q.check(None, "k", ip="10.0.0.1").ok
    assert q.check(None, "k", ip="10.0.0.1").scope == "global"
    assert q.status("key", "k")["rpm"]["remaining"] == 1


def test_ip_tokens_are_counted_when_recorded(clock):
    q = CallerQuotas(clock, per_ip=QuotaLimits(tpm=1000))
    assert q.check(None, None, 100, ip="10.0.0.1").ok
    q.record(None, None, 950, 0, ip="10.0.0.1")
    d = q.check(None, None, 100, ip="10.0.0.1")
    assert not d.ok and d.reason == "ip token limit: 1000 tokens per minute"
    assert q.remaining(None, None, ip="10.0.0.1").remaining_tokens == 50


def test_status_says_what_is_used_and_reset_forgets_it(clock):
    q = CallerQuotas(clock, per_ip=QuotaLimits(rpm=4, spend_day_usd=Decimal("2")))
    q.check(None, None, ip="10.0.0.1")
    q.record(None, None, 0, NANO_PER_USD // 2, ip="10.0.0.1")
    s = q.status("ip", "10.0.0.1")
    assert s["rpm"] == {"limit": 4, "used": 1.0, "remaining": 3, "reset_s": 15.0}
    assert s["tpm"] is None
    assert s["spend_day"] == {"limit_usd": "2", "spent_usd": "0.5"}
    assert q.reset("ip", "10.0.0.1") is True
    assert q.status("ip", "10.0.0.1")["rpm"]["remaining"] == 4
    assert q.reset("ip", "10.0.0.1") is False
    assert q.status("user", "u1") is None  # no per-user quota configured
    assert q.status("global", GLOBAL) is None


def _callers(quotas: CallerQuotas) -> dict[str, int]:
    return {s["scope"]: s["callers"] for s in quotas.report()["scopes"] if s["callers"]}


def test_the_report_counts_each_scopes_callers_as_they_come_and_go(clock):
    quotas = CallerQuotas(clock, per_user=QuotaLimits(rpm=10), per_ip=QuotaLimits(rpm=10),
                          max_callers=5)
    for user, ip in (("u1", "10.0.0.1"), ("u2", "10.0.0.1"), ("u3", "10.0.0.2")):
        assert quotas.check(user, None, ip=ip).ok
    assert _callers(quotas) == {"user": 3, "ip": 2}
    assert quotas.reset("user", "u2") is True
    assert _callers(quotas) == {"user": 2, "ip": 2}
    quotas.check("u4", None, ip="10.0.0.3")  # past max_callers: the least recent goes (u1)
    assert _callers(quotas) == {"user": 2, "ip": 3} and len(quotas) == 5
    clock.advance(120)  # every window full again: the sweep forgets them all
    quotas.check("u5", None)
    assert _callers(quotas) == {"user": 1}


def test_the_report_shows_the_busiest_callers_first(clock):
    quotas = CallerQuotas(clock, per_user=QuotaLimits(rpm=10))
    for user, n in (("calm", 1), ("busy", 6), ("mid", 3)):
        for _ in range(n):
            quotas.check(user, None)
    [scope] = quotas.report()["scopes"]
    assert [(u["who"], u["rpm"]["remaining"]) for u in scope["top"]] == [
        ("busy", 4), ("mid", 7), ("calm", 9)]


def _config(quotas: dict, gateway: dict | None = None):
    return parse_config({
        "providers": {"a": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "deployments": [{"provider": "a", "model": "m", "price": {"input": "1",
                                                                   "output": "2"}}],
        "routes": {"chat": {"candidates": ["a/m"]}},
        "quotas": quotas, "gateway": gateway or {},
    }, "quota-test.toml")


def test_config_reads_global_per_ip_and_per_route_quotas():
    cfg = _config({"global": {"rpm": 100}, "per_ip": {"tpm": 5000},
                   "per_route": {"chat": {"spend_day_usd": "3"}}},
                  {"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]})
    assert cfg.quotas.global_.rpm == 100 and cfg.quotas.per_ip.tpm == 5000
    assert cfg.quotas.per_route["chat"].spend_day_usd == Decimal("3")
    assert cfg.gateway.trusted_proxies == ["127.0.0.1/32", "10.0.0.0/8"]


def test_config_refuses_a_quota_for_an_unknown_route():
    with pytest.raises(ConfigError, match=r"quotas.per_route.nope: unknown route 'nope'"):
        _config({"per_route": {"nope": {"rpm": 1}}})


def test_config_refuses_a_trusted_proxy_that_is_not_a_network():
    with pytest.raises(ConfigError, match="'10.0.0.300/8' is not an IP network"):
        _config({}, {"trusted_proxies": ["10.0.0.300/8"]})
