"""The drill's orchestration over loopback fake upstreams (not the sim): a real gateway
subprocess on a scratch store, real openai-SDK load, and a report read back from that store.
One upstream answers 503 to everything, the other is healthy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from axtui.drill.orchestrate import DrillOptions, run_drill
from axtui.sim.scenario import parse_scenario
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.gateway.harness import Failing, LoopThread

SCENARIO = {
    "scenario": {"name": "loopback: alpha down", "duration_s": 3, "seed": 1},
    "upstreams": [{"name": "alpha", "latency_ms": 10}, {"name": "beta", "latency_ms": 10}],
    "faults": [{"upstream": "alpha", "kind": "error", "status": 503}],
    "load": {"rps": 20, "concurrency": 8, "stream_share": 0.5},
    "targets": {"min_success": 1.0, "max_records_lost": 0},
}


class Counted:
    """Counts each request by the second it arrived in, as the sim's stats do."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.t0 = time.monotonic()
        self.by_second: dict[int, int] = {}

    def check(self, rec):  # noqa: ANN001 - the fake's hook
        s = int(time.monotonic() - self.t0)
        self.by_second[s] = self.by_second.get(s, 0) + 1
        return super().check(rec)


class Down(Counted, Failing):
    pass


class Up(Counted, OpenAIUpstream):
    pass


class LoopbackUpstreams:
    """alpha fails every request with 503, beta answers after 10 ms."""

    def __init__(self) -> None:
        self.loop = LoopThread()
        self.alpha, self.beta = Down(503), Up(latency_s=0.01, record=False)
        for u in (self.alpha, self.beta):
            self.loop.run(u.start())

    def upstream_urls(self) -> dict[str, str]:
        return {"alpha": self.alpha.url + "/v1", "beta": self.beta.url + "/v1"}

    async def restart(self) -> float:
        for u in (self.alpha, self.beta):
            u.t0, u.by_second = time.monotonic(), {}
        return time.time()

    async def calls_by_second(self) -> dict[str, dict[int, int]]:
        return {"alpha": dict(self.alpha.by_second), "beta": dict(self.beta.by_second)}

    def stop(self) -> None:
        for u in (self.alpha, self.beta):
            self.loop.run(u.close())
        self.loop.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    scenario = parse_scenario(SCENARIO, "loopback.toml")
    work = tmp_path_factory.mktemp("drill")
    return run_drill(scenario, DrillOptions(keep_dir=Path(work)),
                     upstreams=lambda _work, _seed: LoopbackUpstreams())


def test_every_request_the_client_saw_answered_has_a_record(report):
    rec = report["records"]
    assert rec["answered"] == report["load"]["sent"] == 60
    assert rec["lost"] == 0 and rec["stored"] == 60
    assert rec["gateway_exit"] == 0


def test_the_healthy_upstream_serves_every_request_plain_and_streaming(report):
    s = report["success"]
    assert s["ratio"] == 1.0
    assert s["plain"]["requests"] > 0 and s["stream"]["requests"] > 0


def test_failovers_count_the_requests_that_tried_the_failing_upstream_first(report):
    fo = report["failovers"]
    assert fo["requests"] >= 1  # until alpha's breaker opened
    assert fo["attempts"] == 60 + fo["requests"]


def test_the_failing_upstreams_breaker_opens_and_its_alert_fires(report):
    [fault] = report["faults"]
    assert fault["upstream"] == "alpha"
    assert fault["breaker_open_after_s"] is not None
    assert fault["alert_firing_after_s"] is not None
    assert fault["alert_rules"]


def test_upstream_calls_per_second_are_measured_from_the_upstreams_counts(report):
    up = report["upstream"]
    assert up["calls"] >= 60
    assert up["peak_calls_per_s"] > 0
