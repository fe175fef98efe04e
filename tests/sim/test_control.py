"""The control endpoint (/_sim/): state, live faults, restart and per-second call counts;
and one seed replaying a served run call by call."""

from __future__ import annotations

import httpx
import pytest

from axtui.clock import VirtualClock
from tests.sim.conftest import SimFactory, scenario

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _call(http: httpx.Client, s, name: str = "alpha") -> int:
    return http.post(s.base_url(name) + "/chat/completions", json=BODY).status_code


def _two(sim: SimFactory, *faults: dict, seed: int | None = None, clock=None):
    return sim(scenario({"name": "alpha"}, {"name": "beta"}, faults=faults), seed=seed,
               clock=clock)


def test_state_lists_upstreams_with_their_paths_and_faults(sim: SimFactory) -> None:
    s = _two(sim, {"upstream": "alpha", "kind": "error", "start_s": 5, "end_s": 9})
    state = httpx.get(s.url + "/_sim/state").json()
    assert state["scenario"] == "test" and state["seed"] == 0
    assert [(u["name"], u["path"]) for u in state["upstreams"]] == [
        ("alpha", "/u/alpha/v1"), ("beta", "/u/beta/v1")]
    assert state["faults"] == [{
        "key": "s0", "source": "scenario", "enabled": True, "active": False,
        "upstream": "alpha", "kind": "error", "start_s": 5.0, "end_s": 9.0, "rate": 1.0,
        "status": 503}]


def test_a_live_fault_applies_now_and_clearing_it_heals(sim: SimFactory,
                                                      http: httpx.Client) -> None:
    s = _two(sim)
    added = httpx.post(s.url + "/_sim/faults",
                       json={"upstream": "alpha", "kind": "error", "status": 502})
    assert added.status_code == 201 and added.json()["id"] == 1
    assert (_call(http, s, "alpha"), _call(http, s, "beta")) == (502, 200)
    cleared = httpx.delete(s.url + "/_sim/faults", params={"upstream": "alpha"})
    assert cleared.json() == {"cleared": 1}
    assert _call(http, s, "alpha") == 200


def test_a_live_fault_with_for_s_ends_by_itself(sim: SimFactory, http: httpx.Client) -> None:
    clock = VirtualClock()
    s = _two(sim, clock=clock)
    httpx.post(s.url + "/_sim/faults", json={"upstream": "beta", "kind": "rate_limit",
                                             "for_s": 5})
    assert _call(http, s, "beta") == 429
    clock.advance(5)
    assert _call(http, s, "beta") == 200


def test_clearing_with_scenario_switches_the_scenarios_faults_off_until_restart(
        sim: SimFactory, http: httpx.Client) -> None:
    s = _two(sim, {"upstream": "alpha", "kind": "error"})
    assert _call(http, s) == 503
    assert httpx.delete(s.url + "/_sim/faults?scenario=1").json() == {"cleared": 1}
    assert _call(http, s) == 200
    httpx.post(s.url + "/_sim/restart")
    assert _call(http, s) == 503


def test_one_live_fault_is_cleared_by_its_id(sim: SimFactory, http: httpx.Client) -> None:
    s = _two(sim)
    first = httpx.post(s.url + "/_sim/faults", json={"upstream": "alpha", "kind": "error"})
    httpx.post(s.url + "/_sim/faults", json={"upstream": "beta", "kind": "error"})
    assert httpx.delete(f"{s.url}/_sim/faults/{first.json()['id']}").json() == {"cleared": 1}
    assert (_call(http, s, "alpha"), _call(http, s, "beta")) == (200, 503)


def test_stats_count_calls_per_upstream_per_second_and_by_outcome(
        sim: SimFactory, http: httpx.Client) -> None:
    clock = VirtualClock()
    s = _two(sim, {"upstream": "beta", "kind": "error", "start_s": 1}, clock=clock)
    for _ in range(3):
        _call(http, s, "alpha")
    _call(http, s, "beta")
    clock.advance(1.5)
    _call(http, s, "beta")
    _call(http, s, "beta")
    stats = httpx.get(s.url + "/_sim/stats").json()
    alpha, beta = stats["upstreams"]["alpha"], stats["upstreams"]["beta"]
    assert (alpha["calls"], alpha["by_second"], alpha["outcomes"]) == (3, [[0, 3]], {"ok": 3})
    assert beta["by_second"] == [[0, 1], [1, 2]]
    assert beta["outcomes"] == {"error": 2, "ok": 1}
    assert beta["max_calls_per_s"] == 1  # second 1 is not over yet
    assert stats["sim_errors"] == 0


def test_restart_sets_the_clock_to_zero_and_clears_stats_and_live_faults(
        sim: SimFactory, http: httpx.Client) -> None:
    clock = VirtualClock()
    s = _two(sim, clock=clock)
    httpx.post(s.url + "/_sim/faults", json={"upstream": "alpha", "kind": "error"})
    _call(http, s)
    clock.advance(30)
    state = httpx.post(s.url + "/_sim/restart", json={"seed": 9}).json()
    assert (state["t"], state["seed"], state["restarts"], state["faults"]) == (0.0, 9, 1, [])
    assert httpx.get(s.url + "/_sim/stats").json()["upstreams"]["alpha"]["calls"] == 0
    assert _call(http, s) == 200


@pytest.mark.parametrize(("fault", "words"), [
    ({"upstream": "gamma", "kind": "error"}, "no upstream named 'gamma' (upstreams: alpha, beta)"),
    ({"upstream": "alpha", "kind": "fire"}, "kind: Input should be"),
    ({"upstream": "alpha", "kind": "error", "start_s": 3}, "give `for_s`"),
    ({"upstream": "alpha", "kind": "error", "for_s": -1}, "for_s: must be a positive number"),
    ({"upstream": "alpha", "kind": "latency", "status": 500}, "status: not used by kind"),
    ([1, 2], "expected a JSON object"),
])
def test_a_bad_live_fault_is_a_400_with_an_openai_style_error(sim: SimFactory, fault,
                                                             words: str) -> None:
    s = _two(sim)
    r = httpx.post(s.url + "/_sim/faults", json=fault)
    assert r.status_code == 400
    assert words in r.json()["error"]["message"], r.json()
    assert r.json()["error"]["code"] == "invalid_control_request"
    assert httpx.get(s.url + "/_sim/state").json()["faults"] == []


def test_a_body_that_is_not_json_is_a_400(sim: SimFactory) -> None:
    s = _two(sim)
    r = httpx.post(s.url + "/_sim/faults", content=b"{nope")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_an_unknown_control_route_lists_the_routes(sim: SimFactory) -> None:
    r = httpx.get(_two(sim).url + "/_sim/nope")
    assert r.status_code == 404 and "POST /_sim/faults" in r.json()["error"]["message"]


def test_an_unknown_upstream_path_names_the_upstreams(sim: SimFactory) -> None:
    r = httpx.post(_two(sim).url + "/u/gamma/v1/chat/completions", json=BODY)
    assert r.status_code == 404
    assert "upstreams: alpha, beta" in r.json()["error"]["message"]


def test_a_single_upstream_is_also_served_at_the_root(sim: SimFactory) -> None:
    s = sim(scenario({"name": "solo"}))
    assert httpx.post(s.url + "/v1/chat/completions", json=BODY).status_code == 200


def _run(sim: SimFactory, http: httpx.Client, seed: int) -> list[int]:
    s = _two(sim, {"upstream": "alpha", "kind": "rate_limit", "rate": 0.5},
             {"upstream": "alpha", "kind": "error", "rate": 0.2, "status": 500}, seed=seed)
    return [_call(http, s) for _ in range(40)]


def test_one_seed_replays_a_served_run_and_another_seed_differs(
        sim: SimFactory, http: httpx.Client) -> None:
    first = _run(sim, http, 3)
    assert first == _run(sim, http, 3)
    assert set(first) == {200, 429, 500}
    assert first != _run(sim, http, 4)


def test_the_rate_limit_window_forgets_calls_older_than_a_minute(
        sim: SimFactory, http: httpx.Client) -> None:
    clock = VirtualClock()
    s = sim(scenario({"name": "alpha", "rpm_limit": 100}), clock=clock)
    url = s.base_url("alpha") + "/chat/completions"
    for _ in range(3):
        http.post(url, json=BODY)
    clock.advance(30)
    assert http.post(url, json=BODY).headers["x-ratelimit-remaining-requests"] == "96"
    clock.advance(31)  # the first three are older than 60 s now
    r = http.post(url, json=BODY)
    assert r.headers["x-ratelimit-remaining-requests"] == "98"
    assert r.headers["x-ratelimit-remaining-tokens"] == str(10_000_000 - 2 * (3 + 1 + 8))
