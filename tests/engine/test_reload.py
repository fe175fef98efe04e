"""Engine.reload: new requests route by the new config at once, requests in flight finish on
the one they began with, and live state survives for what still exists."""

from __future__ import annotations

import asyncio
import copy

import pytest

from axtui.engine.engine import RequestContext, RoutingError
from axtui.engine.reload import diff, pin_restart_only
from axtui.records import ErrorKind

from .conftest import BASE, make_config
from .scripted import Fail
from .test_engine import ask, setup


def priority(*candidates: str) -> dict:
    return {"chat": {"candidates": list(candidates), "strategy": "priority",
                     "max_attempts": 3, "deadline_s": 30}}


def test_the_next_request_after_a_reload_takes_the_new_route():
    clock, engine, providers, records = setup(make_config(routes=priority("a/cheap")))
    assert clock.run(engine.complete(ask())).record.deployment == "a/cheap"
    engine.reload(make_config(routes=priority("c/dear")))
    assert clock.run(engine.complete(ask())).record.deployment == "c/dear"


def test_a_request_in_flight_finishes_on_the_config_it_began_with():
    cfg = make_config(routes=priority("a/cheap", "b/mid"))
    clock, engine, providers, records = setup(cfg)
    providers["a"].then("cheap", Fail(ErrorKind.server, 500, latency_s=1.0))

    async def scenario():
        first = asyncio.ensure_future(engine.complete(ask()))
        await clock.sleep(0.5)  # its first attempt is under way
        engine.reload(make_config(routes=priority("c/dear")))
        return await first, await engine.complete(ask())

    old, new = clock.run(scenario())
    assert [a.deployment for a in old.record.attempts] == ["a/cheap", "b/mid"]
    assert new.record.deployment == "c/dear"
    assert len(records) == 2  # each request recorded once, by the shared listeners


def test_a_deployment_that_stays_keeps_its_open_breaker():
    cfg = make_config(breaker={"consecutive_failures": 3, "min_calls": 100, "open_s": 30})
    clock, engine, providers, records = setup(cfg, a=Fail(ErrorKind.server, 500))
    for _ in range(3):
        clock.run(engine.complete(ask()))
    assert str(engine.deployments["a/cheap"].breaker.state) == "open"
    routes = copy.deepcopy(BASE["routes"])
    routes["chat"]["max_attempts"] = 2
    engine.reload(make_config(breaker=cfg.breaker.model_dump(mode="json"), routes=routes))
    assert str(engine.deployments["a/cheap"].breaker.state) == "open"
    calls = len(providers["a"].calls)
    clock.run(engine.complete(ask()))
    assert len(providers["a"].calls) == calls  # still skipped


def test_a_caller_keeps_its_counted_requests_under_a_new_quota():
    clock, engine, providers, records = setup(make_config(quotas={"per_user": {"rpm": 10}}))
    ctx = RequestContext(user="alice")
    for _ in range(3):
        clock.run(engine.complete(ask(), ctx))
    engine.reload(make_config(quotas={"per_user": {"rpm": 4}}))
    clock.run(engine.complete(ask(), ctx))  # the 4th this minute: allowed
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask(), ctx))
    assert err.value.kind is ErrorKind.quota
    assert "4 requests per minute" in str(err.value)


def test_an_ip_and_a_global_quota_keep_their_counts_under_new_limits():
    clock, engine, providers, records = setup(make_config(
        quotas={"per_ip": {"rpm": 10}, "global": {"rpm": 10}}))
    ctx = RequestContext(user="alice", ip="10.0.0.7")
    for _ in range(3):
        clock.run(engine.complete(ask(), ctx))
    engine.reload(make_config(quotas={"per_ip": {"rpm": 4}, "global": {"rpm": 100}}))
    clock.run(engine.complete(ask(), ctx))  # the IP's 4th this minute: allowed
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask(), ctx))
    assert err.value.kind is ErrorKind.quota
    assert "ip rate limit: 4 requests per minute" in str(err.value)


def test_a_route_removed_by_a_reload_is_unknown_to_new_requests():
    routes = priority("a/cheap") | {"other": {"candidates": ["b/mid"]}}
    clock, engine, providers, records = setup(make_config(routes=routes))
    engine.reload(make_config(routes=priority("a/cheap")))
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask(model="other")))
    assert err.value.kind is ErrorKind.no_route


def test_a_drain_survives_a_reload():
    from .drains import apply_drains

    clock, engine, providers, records = setup(make_config(routes=priority("a/cheap", "b/mid")))
    apply_drains(engine, {"a/cheap": "maintenance"})
    engine.reload(make_config(routes=priority("a/cheap", "b/mid", "c/dear")))
    assert engine.deployments["a/cheap"].drained == "maintenance"
    assert clock.run(engine.complete(ask())).record.deployment == "b/mid"


def test_the_diff_names_routes_limits_and_other_sections():
    old = make_config(routes=priority("a/cheap"))
    new = make_config(routes=priority("b/mid"), quotas={"per_key": {"rpm": 5}},
                      routing={"max_queue_wait_ms": 100})
    d = diff(old, new).as_dict()
    assert d["routes"]["changed"]["chat"]["candidates"] == {"old": ["a/cheap"],
                                                           "new": ["b/mid"]}
    assert d["limits"]["quotas"]["new"]["per_key"]["rpm"] == 5
    assert d["other"] == ["routing"]
    assert diff(old, old).empty()


def test_restart_only_sections_keep_their_running_values():
    old = make_config()
    new = make_config(store={"url": "sqlite:////other.db"}, gateway={"listen": "0.0.0.0:9"})
    kept, waiting = pin_restart_only(old, new)
    assert set(waiting) == {"store", "gateway"}
    assert kept.store == old.store and kept.gateway == old.gateway
    assert kept.routes == new.routes
