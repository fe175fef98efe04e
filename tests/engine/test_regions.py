"""Regions and data residency: a request's region orders (prefer) or confines (require)
the deployments that may serve it, through failover and fallback routes alike."""

from __future__ import annotations

import copy

import pytest

from axtui.clock import VirtualClock
from axtui.config import parse_config
from axtui.engine.engine import Engine, RequestContext, RoutingError
from axtui.records import ErrorKind, RequestRecord

from .conftest import BASE
from .scripted import Fail, ScriptedProvider
from .test_engine import ask

REGIONS = {"a/cheap": "us", "b/mid": "eu", "c/dear": "eu"}


def regional(**route_extra) -> object:
    data = copy.deepcopy(BASE)
    for d in data["deployments"]:
        d["region"] = REGIONS[f"{d['provider']}/{d['model']}"]
    data["routes"]["chat"].update(route_extra)
    data["routes"]["us-only"] = {"candidates": ["a/cheap"]}
    return parse_config(data, "test.toml")


def setup(cfg, down=()):
    """`down`: providers whose every call fails with a 500."""
    clock = VirtualClock()
    providers = {n: ScriptedProvider(n, clock, Fail(ErrorKind.server, 500) if n in down
                                     else None) for n in cfg.providers}
    engine = Engine(cfg, clock=clock, providers=providers, seed=1)
    records: list[RequestRecord] = []
    engine.on_record(records.append)
    return clock, engine, providers, records


def test_a_preferred_region_goes_first_ahead_of_a_cheaper_deployment_elsewhere():
    clock, engine, _, _ = setup(regional())
    result = clock.run(engine.complete(ask(), RequestContext(region="eu")))
    assert result.record.deployment == "b/mid"
    assert result.record.region == "eu"


def test_a_preferred_region_still_fails_over_to_other_regions():
    clock, engine, providers, _ = setup(regional())
    providers["b"].then("mid", Fail(ErrorKind.server, 500))
    providers["c"].then("dear", Fail(ErrorKind.server, 500))
    result = clock.run(engine.complete(ask(), RequestContext(region="eu")))
    assert [a.deployment for a in result.record.attempts] == ["b/mid", "c/dear", "a/cheap"]
    assert result.record.region == "us"


def test_without_a_region_the_strategy_alone_decides_and_the_record_names_the_region():
    clock, engine, _, _ = setup(regional())
    result = clock.run(engine.complete(ask()))
    assert result.record.deployment == "a/cheap"
    assert result.record.region == "us"


def test_a_required_region_is_never_left_by_failover():
    clock, engine, providers, records = setup(regional(), down="bc")
    with pytest.raises(RoutingError):
        clock.run(engine.complete(ask(), RequestContext(region="eu", region_required=True)))
    assert providers["a"].calls == []
    assert {a.deployment for a in records[0].attempts} <= {"b/mid", "c/dear"}


def test_a_required_region_without_a_deployment_is_a_400_naming_it():
    clock, engine, providers, records = setup(regional())
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask(), RequestContext(region="ap", region_required=True)))
    assert err.value.status == 400
    assert "region ap" in str(err.value)
    assert all(p.calls == [] for p in providers.values())
    assert records[0].error_kind is ErrorKind.unsupported
    assert records[0].region is None


def test_a_required_region_is_not_served_by_a_fallback_route_elsewhere():
    data = copy.deepcopy(BASE)
    for d in data["deployments"]:
        d["region"] = REGIONS[f"{d['provider']}/{d['model']}"]
    data["routes"]["chat"] = {"candidates": ["b/mid"], "fallbacks": ["us-only"]}
    data["routes"]["us-only"] = {"candidates": ["a/cheap"]}
    clock, engine, providers, _ = setup(parse_config(data, "test.toml"), down="b")
    with pytest.raises(RoutingError):
        clock.run(engine.complete(ask(), RequestContext(region="eu", region_required=True)))
    assert providers["a"].calls == []


def test_a_route_that_requires_its_region_confines_requests_naming_none():
    clock, engine, providers, _ = setup(regional(region="eu", region_policy="require"),
                                        down="bc")
    with pytest.raises(RoutingError):
        clock.run(engine.complete(ask()))
    assert providers["a"].calls == []


def test_a_routes_region_is_only_a_default_under_prefer():
    clock, engine, _, _ = setup(regional(region="eu"))
    assert clock.run(engine.complete(ask())).record.deployment == "b/mid"
    got = clock.run(engine.complete(ask(), RequestContext(region="us")))
    assert got.record.deployment == "a/cheap"


def test_a_region_name_must_be_a_lower_case_token():
    data = copy.deepcopy(BASE)
    data["deployments"][0]["region"] = "EU West"
    with pytest.raises(Exception, match="region"):
        parse_config(data, "test.toml")


def test_a_preferred_region_may_be_served_by_a_fallback_route_elsewhere():
    data = copy.deepcopy(BASE)
    for d in data["deployments"]:
        d["region"] = REGIONS[f"{d['provider']}/{d['model']}"]
    data["routes"]["chat"] = {"candidates": ["b/mid"], "fallbacks": ["us-only"]}
    data["routes"]["us-only"] = {"candidates": ["a/cheap"]}
    clock, engine, _, _ = setup(parse_config(data, "test.toml"), down="b")
    result = clock.run(engine.complete(ask(), RequestContext(region="eu")))
    assert (result.record.route, result.record.region) == ("us-only", "us")
