"""`GET /metrics` as Prometheus sees it: a real gateway (its recorder in a child process),
the official `openai` SDK sending, the exposition parsed with prometheus-client's parser."""

from __future__ import annotations

import glob
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.openai_upstream import OpenAIUpstream

from .harness import (
    ADMIN_ENV,
    ADMIN_TOKEN,
    Failing,
    LoopThread,
    Served,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
    store_records,
)

TOKEN_ENV = "AXTUI_TEST_METRICS_TOKEN"
TOKEN = "scrape-token-for-tests"
SPLIT = {"effect": {"kind": "split", "route": "flagged", "deployment": "b/gpt-b"}, "pct": 25}


@dataclass
class Env:
    loop: LoopThread
    served: Served
    slow: OpenAIUpstream
    data: dict
    store_dir: Path

    @property
    def url(self) -> str:
        return self.served.url

    def client(self, base_url: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=base_url or self.served.base_url, api_key="none",
                             max_retries=0, timeout=15)

    def flush(self) -> None:
        """The recorder counts what it writes: once flushed, every request so far is in."""
        assert self.served.gateway.recorder.flush(15)


def config_data(fakes: dict, store_url: str) -> dict:
    return {
        "store": {"url": store_url, "flush_interval_s": 0.05, "recorder": "process"},
        "providers": {name: openai_provider(f.base_url) for name, f in fakes.items()},
        "deployments": [deployment("a", "gpt-a"), deployment("b", "gpt-b"),
                        deployment("slow", "s"), deployment("dead", "x")],
        "routes": {
            "chat": {"candidates": ["a/gpt-a"]},
            "streamed": {"candidates": ["a/gpt-a"]},
            "costly": {"candidates": ["a/gpt-a"]},
            "slow": {"candidates": ["slow/s"], "max_attempts": 1},
            "dead": {"candidates": ["dead/x"], "max_attempts": 1},
            "spare": {"candidates": ["b/gpt-b"]},
            "flagged": {"candidates": ["a/gpt-a", "b/gpt-b"]},
        },
        "flags": {"to_b": SPLIT},
        "gateway": {"admin_token_env": ADMIN_ENV},
        "metrics": {"token_env": TOKEN_ENV},
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    loop = LoopThread()
    fakes = {"a": OpenAIUpstream(reply_text="Hello from A."),
             "b": OpenAIUpstream(reply_text="Hello from B."),
             "slow": OpenAIUpstream(latency_s=0.3), "dead": Failing(500)}
    for f in fakes.values():
        loop.run(f.start())
    store_dir = tmp_path_factory.mktemp("metrics")
    store_url = f"sqlite:///{store_dir}/gw.db"
    data = config_data(fakes, store_url)
    environ = {ADMIN_ENV: ADMIN_TOKEN, TOKEN_ENV: TOKEN}
    served = loop.run(start_gateway(make_config(data), store_url, environ))
    try:
        yield Env(loop, served, fakes["slow"], data, store_dir)
    finally:
        loop.run(stop_gateway(served))
        for f in fakes.values():
            loop.run(f.close())
        loop.close()


class Exposition:
    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float:
        """A sample's value; 0 when the series does not exist (yet)."""
        family = sample
        for suffix in ("_total", "_bucket", "_count", "_sum"):
            if sample.endswith(suffix) and sample[: -len(suffix)] in self.families:
                family = sample[: -len(suffix)]
        found = [s.value for s in self.families.get(family, _Empty).samples
                 if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(found) <= 1, f"{sample} {labels}: {len(found)} series match"
        return found[0] if found else 0.0


class _Empty:
    samples: list = []


def scrape(url: str, token: str | None = TOKEN) -> Exposition:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Exposition(r.text)


def ask(client: openai.OpenAI, route: str, n: int = 1) -> None:
    for _ in range(n):
        client.chat.completions.create(model=route, messages=[{"role": "user", "content": "hi"}])


def test_requests_are_counted_by_route_deployment_and_outcome(env: Env):
    before = scrape(env.url)
    ask(env.client(), "chat", 3)
    env.flush()
    after = scrape(env.url)
    labels = {"route": "chat", "deployment": "a/gpt-a", "outcome": "ok", "error_kind": ""}
    assert after.value("axtui_requests_total", **labels) - before.value(
        "axtui_requests_total", **labels) == 3
    attempt = {"deployment": "a/gpt-a", "outcome": "ok", "error_kind": ""}
    assert after.value("axtui_attempts_total", **attempt) - before.value(
        "axtui_attempts_total", **attempt) == 3


def test_the_recorder_counts_what_it_wrote_and_dropped(env: Env):
    before = scrape(env.url)
    ask(env.client(), "chat", 2)
    env.flush()
    after = scrape(env.url)
    assert after.value("axtui_recorder_written_total") - before.value(
        "axtui_recorder_written_total") == 2
    assert after.value("axtui_recorder_dropped_total") == 0
    assert after.value("axtui_recorder_queued") == 0


def test_requests_for_unknown_routes_are_one_series_whatever_the_names(env: Env):
    for name in ("no-such-route", "gpt-5-turbo-xl", "x" * 40):  # a caller's free text
        with pytest.raises(openai.NotFoundError):
            ask(env.client(), name)
    env.flush()
    exp = scrape(env.url)
    assert exp.value("axtui_requests_total", route="(unknown)", outcome="rejected",
                     error_kind="no_route", deployment="") == 3
    routes = {s.labels["route"] for s in exp.families["axtui_requests"].samples}
    assert not routes & {"no-such-route", "gpt-5-turbo-xl", "x" * 40}


def test_a_slow_request_lands_in_its_latency_bucket(env: Env):
    before = scrape(env.url)
    ask(env.client(), "slow")  # the upstream answers after 0.3 s
    env.flush()
    after = scrape(env.url)

    def delta(sample: str, **labels: str) -> float:
        labels |= {"route": "slow", "deployment": "slow/s", "outcome": "ok"}
        return after.value(sample, **labels) - before.value(sample, **labels)

    name = "axtui_request_duration_seconds"
    assert [delta(f"{name}_bucket", le=le) for le in ("0.1", "0.25", "0.5", "1.0", "+Inf")
            ] == [0, 0, 1, 1, 1]
    assert delta(f"{name}_count") == 1
    assert 0.3 <= delta(f"{name}_sum") < 0.5
    family = after.families[name]
    assert family.type == "histogram"
    bounds = [s.labels["le"] for s in family.samples if s.name == f"{name}_bucket"
              and s.labels["route"] == "slow"]
    assert bounds[0] == "0.05" and bounds[-2:] == ["120.0", "+Inf"]


def test_a_streamed_request_observes_time_to_first_token(env: Env):
    stream = env.client().chat.completions.create(
        model="streamed", messages=[{"role": "user", "content": "hi"}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text
    env.flush()
    exp = scrape(env.url)
    assert exp.value("axtui_time_to_first_token_seconds_count", route="streamed",
                     deployment="a/gpt-a") == 1
    assert exp.families["axtui_time_to_first_token_seconds"].type == "histogram"


def test_cost_and_tokens_add_up_to_the_stored_records(env: Env):
    ask(env.client(), "costly", 4)
    env.flush()
    exp = scrape(env.url)
    records = store_records(env.served.store_url, route="costly")
    assert len(records) == 4
    nano = sum(r.cost_nano for r in records)
    assert nano > 0
    assert exp.value("axtui_cost_usd_total", route="costly", deployment="a/gpt-a") == nano / 1e9
    for kind in ("prompt", "completion"):
        stored = sum(getattr(r.usage, f"{kind}_tokens") for r in records)
        assert exp.value("axtui_tokens_total", route="costly", deployment="a/gpt-a",
                         type=kind) == stored > 0


def test_failing_deployment_shows_errors_and_an_open_breaker(env: Env):
    before = scrape(env.url)
    assert before.value("axtui_breaker_state", deployment="dead/x", state="closed") == 1
    for _ in range(5):  # breaker.consecutive_failures defaults to 5
        with pytest.raises(openai.APIStatusError):
            ask(env.client(), "dead")
    env.flush()
    after = scrape(env.url)
    assert after.value("axtui_breaker_state", deployment="dead/x", state="open") == 1
    assert after.value("axtui_breaker_state", deployment="dead/x", state="closed") == 0
    assert after.value("axtui_breaker_state", deployment="dead/x", state="half_open") == 0
    errors = {"deployment": "dead/x", "outcome": "error", "error_kind": "server"}
    assert after.value("axtui_attempts_total", **errors) - before.value(
        "axtui_attempts_total", **errors) == 5
    assert after.value("axtui_breaker_state", deployment="a/gpt-a", state="closed") == 1


def admin(env: Env, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{env.url}/admin{path}", json=body, timeout=10,
                      headers={"authorization": f"Bearer {ADMIN_TOKEN}"})


def test_a_drain_shows_in_the_drained_gauge(env: Env):
    assert scrape(env.url).value("axtui_deployment_drained", deployment="b/gpt-b") == 0
    assert admin(env, "/deployments/b/gpt-b/drain", {"reason": "maintenance"}).is_success
    assert scrape(env.url).value("axtui_deployment_drained", deployment="b/gpt-b") == 1
    assert admin(env, "/deployments/b/gpt-b/undrain", {}).is_success
    assert scrape(env.url).value("axtui_deployment_drained", deployment="b/gpt-b") == 0


def test_a_flag_shows_its_rollout_and_its_kill(env: Env):
    exp = scrape(env.url)
    assert exp.value("axtui_flag_rollout_ratio", flag="to_b") == 0.25
    assert exp.value("axtui_flag_killed", flag="to_b") == 0
    assert admin(env, "/flags/to_b/kill", {"by": "oncall", "reason": "b is wrong"}).is_success
    exp = scrape(env.url)
    assert exp.value("axtui_flag_rollout_ratio", flag="to_b") == 0
    assert exp.value("axtui_flag_killed", flag="to_b") == 1


def test_a_request_in_progress_is_in_flight(env: Env):
    received = env.slow.received
    done = threading.Thread(target=ask, args=(env.client(), "slow"))
    done.start()
    try:
        _until(lambda: env.slow.received > received)  # the upstream holds it for 0.3 s
        exp = scrape(env.url)
        assert exp.value("axtui_inflight_requests") == 1
        assert exp.value("axtui_inflight_attempts", deployment="slow/s") == 1
    finally:
        done.join(10)
    assert scrape(env.url).value("axtui_inflight_requests") == 0


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def test_headroom_is_a_ratio_per_deployment(env: Env):
    exp = scrape(env.url)
    assert exp.value("axtui_headroom_ratio", deployment="a/gpt-a") == 1.0  # no limits set
    assert exp.families["axtui_headroom_ratio"].type == "gauge"


def test_a_scrape_without_the_token_is_refused(env: Env):
    r = httpx.get(f"{env.url}/metrics", timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_metrics_token"
    wrong = httpx.get(f"{env.url}/metrics", headers={"authorization": "Bearer nope"},
                      timeout=10)
    assert wrong.status_code == 401
    assert TOKEN not in r.text + wrong.text


def test_a_corrupt_metrics_file_is_one_clear_500(env: Env):
    bad = env.store_dir / "gw.db.metrics" / "counter_corrupt.db"
    # 24 bytes used; the first key claims 1,000 bytes
    bad.write_bytes(struct.pack("i", 24) + b"\0" * 4 + struct.pack("i", 1000) + b"\0" * 12)
    try:
        r = httpx.get(f"{env.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"},
                      timeout=10)
    finally:
        bad.unlink()
    assert r.status_code == 500
    assert r.json()["error"]["message"] == (
        f"metrics in {bad.parent} could not be read: RuntimeError: Read beyond file size "
        "detected, file is corrupted.")
    assert scrape(env.url).value("axtui_inflight_requests") == 0  # and fine once it is gone


def test_two_gateway_processes_sharing_the_directory_add_up(env: Env, tmp_path: Path):
    """A second `axtui serve` on the same store shares its metrics directory (beside the
    store file): either process's /metrics counts both; an orderly stop takes its live
    gauges away and leaves its counters."""
    cfg = tmp_path / "second.toml"
    cfg.write_text(f"""
[store]
url = "{env.served.store_url}"
[providers.a]
protocol = "openai"
base_url = "{env.data['providers']['a']['base_url']}"
[[deployments]]
provider = "a"
model = "gpt-a"
[routes.chat]
candidates = ["a/gpt-a"]
[metrics]
token_env = "{TOKEN_ENV}"
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "axtui.cli.main", "serve", "--config", str(cfg),
         "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, TOKEN_ENV: TOKEN, "PYTHONPATH": os.getcwd()})
    try:
        other = _wait_ready(proc, env.store_dir / "gw.db.metrics")
        before = scrape(env.url)
        labels = {"route": "chat", "deployment": "a/gpt-a", "outcome": "ok"}
        ask(env.client(), "chat", 2)
        ask(env.client(f"{other}/v1"), "chat", 3)
        env.flush()
        _stop(proc)  # writes every queued record (and counts it) before exiting
        after = scrape(env.url)
        assert after.value("axtui_requests_total", **labels) - before.value(
            "axtui_requests_total", **labels) == 5
        assert after.value("axtui_inflight_requests") == 0
        # the second gateway's final count was published as it stopped
        assert after.value("axtui_recorder_written_total") - before.value(
            "axtui_recorder_written_total") == 5
        metrics_dir = env.store_dir / "gw.db.metrics"
        assert glob.glob(str(metrics_dir / f"gauge_live*_{proc.pid}.db")) == []
        assert glob.glob(str(metrics_dir / f"gauge_live*_{os.getpid()}.db"))
        # tidying (every 30 s, and by the next process to open the directory) folds the
        # exited ones' totals away
        files = sorted(f.name for f in metrics_dir.glob("*.db"))
        # the second gateway's recorder child, which counted its 3
        assert env.served.gateway.metrics.tidy(), files
        live = {str(os.getpid()), str(env.served.gateway.recorder.pid), "archive"}
        left = {f.stem.rsplit("_", 1)[1] for f in metrics_dir.glob("*.db")}
        assert left == live, (files, live)
        assert scrape(env.url).value("axtui_requests_total", **labels) == after.value(
            "axtui_requests_total", **labels)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_ready(proc: subprocess.Popen, metrics_dir: Path) -> str:
    url = announced = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("axtui serve: "):
            url = line.split()[2].removesuffix("/v1")
        if line.startswith("  metrics"):
            announced = line
        if "admin API" in line:  # the last line of the ready announcement
            assert announced == f"  metrics at /metrics (bearer token; files in {metrics_dir})\n"
            assert url
            return url
    raise AssertionError(f"the second gateway did not start (exit {proc.wait(10)})")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_serve_refuses_to_start_when_the_metrics_token_is_missing(tmp_path: Path):
    cfg = tmp_path / "axtui.toml"
    cfg.write_text('[providers.p]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                   '[[deployments]]\nprovider = "p"\nmodel = "m"\n'
                   '[routes.chat]\ncandidates = ["p/m"]\n'
                   '[metrics]\ntoken_env = "AXTUI_TEST_UNSET_METRICS_TOKEN"\n')
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "serve", "--config",
                           str(cfg), "--store", f"sqlite:///{tmp_path}/s.db", "--listen",
                           "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == ("error: metrics.token_env: AXTUI_TEST_UNSET_METRICS_TOKEN is not "
                           "set; set it, or remove token_env to serve /metrics without a "
                           "token\n")


def test_with_the_thread_recorder_the_serving_process_counts(env: Env, tmp_path: Path):
    loop = LoopThread()
    data = {**env.data, "store": {"url": f"sqlite:///{tmp_path}/t.db", "recorder": "thread",
                                  "flush_interval_s": 0.05}, "metrics": {}}
    served = loop.run(start_gateway(make_config(data), data["store"]["url"]))
    try:
        ask(env.client(served.base_url), "chat", 2)
        assert served.gateway.recorder.flush(10)
        exp = scrape(served.url, token=None)  # no token_env: open
        assert exp.value("axtui_requests_total", route="chat", deployment="a/gpt-a",
                         outcome="ok", error_kind="") == 2
        files = {f.name for f in (tmp_path / "t.db.metrics").glob("*.db")}
        assert {f"counter_{os.getpid()}.db", f"histogram_{os.getpid()}.db"} <= files
    finally:
        loop.run(stop_gateway(served))
        loop.close()


def test_metrics_turned_off_answer_404(tmp_path: Path):
    loop = LoopThread()
    data = {"providers": {"p": openai_provider("http://127.0.0.1:9/v1")},
            "deployments": [deployment("p", "m")], "routes": {"chat": {"candidates": ["p/m"]}},
            "metrics": {"enabled": False}}
    url = f"sqlite:///{tmp_path}/s.db"
    served = loop.run(start_gateway(make_config(data), url))
    try:
        r = httpx.get(f"{served.url}/metrics", timeout=10)
        assert r.status_code == 404
        assert r.json()["error"]["message"] == "metrics are off here ([metrics] enabled = false)"
        assert not (tmp_path / "s.db.metrics").exists()
    finally:
        loop.run(stop_gateway(served))
        loop.close()
