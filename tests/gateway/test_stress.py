"""Behaviour under stress: many concurrent requests with a dead upstream, clients that
leave, and SIGTERM in the middle of load. Every request the gateway accepted ends as
exactly one record in the store."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from axtui.traces.jsonl import read_trace
from tests.fakes.openai_upstream import OpenAIUpstream

from .harness import (
    Failing,
    LoopThread,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
    store_records,
)

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.mark.parametrize("recorder", ["thread", "process"])
def test_200_concurrent_requests_fail_over_and_each_is_recorded_once(loop, tmp_path, recorder):
    dead, good = Failing(500), OpenAIUpstream(latency_s=0.02)
    for f in (dead, good):
        loop.run(f.start())
    url = f"sqlite:///{tmp_path}/load.db"
    cfg = make_config({
        "store": {"url": url, "flush_interval_s": 0.05, "recorder": recorder},
        "providers": {"dead": openai_provider(dead.base_url),
                      "good": openai_provider(good.base_url)},
        "deployments": [deployment("dead", "x"), deployment("good", "y")],
        "routes": {"chat": {"candidates": ["dead/x", "good/y"], "strategy": "priority"}},
    })
    trace = tmp_path / "trace.jsonl"
    served = loop.run(start_gateway(cfg, url, trace_path=str(trace)))

    async def load() -> list:
        client = openai.AsyncOpenAI(base_url=served.base_url, api_key="none", max_retries=0,
                                    timeout=30)
        calls = [client.chat.completions.with_raw_response.create(model="chat",
                                                                  messages=HELLO)
                 for _ in range(200)]
        try:
            return await asyncio.gather(*calls)
        finally:
            await client.close()

    try:
        responses = asyncio.run(load())
    finally:
        loop.run(stop_gateway(served))  # shutdown flushes the recorder
        for f in (dead, good):
            loop.run(f.close())
    assert {r.headers["x-axtui-deployment"] for r in responses} == {"good/y"}
    assert all(r.parse().choices[0].message.content for r in responses)
    records = store_records(url)
    assert len(records) == 200
    assert {r.id for r in records} == {r.headers["x-request-id"] for r in responses}
    assert {r.outcome for r in records} == {"ok"}
    assert dead.received >= 1  # the dead upstream was tried before the breaker opened
    assert sum(len(r.attempts) for r in records) == 200 + dead.received
    traced = read_trace(trace)  # --trace-out: the same records, as JSONL
    assert not traced.bad_lines and {r.id for r in traced.records} == {r.id for r in records}


# --------------------------------------------------------------------------- SIGTERM


def _start_serve(tmp_path: Path, upstream_url: str, grace: float) -> tuple[subprocess.Popen,
                                                                           str, str]:
    config = tmp_path / "axtui.toml"
    url = f"sqlite:///{tmp_path}/serve.db"
    config.write_text(f"""
[store]
url = "{url}"
flush_interval_s = 0.05

[providers.up]
protocol = "openai"
base_url = "{upstream_url}"

[[deployments]]
provider = "up"
model = "m"
price = {{ input = "1", output = "2" }}
capabilities = ["streaming", "tools", "json"]
context_window = 128000

[routes.chat]
candidates = ["up/m"]
""")
    log = tmp_path / "serve.log"  # a file, not a pipe: a full pipe would block the server
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "axtui.cli.main", "serve", "--config", str(config),
             "--listen", "127.0.0.1:0", "--store", url, "--grace", str(grace)],
            stdout=out, stderr=out, text=True)
    deadline = time.monotonic() + 20
    base = ""
    while not base:
        lines = [ln for ln in log.read_text().splitlines() if ln.startswith("axtui serve: ")]
        if lines:
            base = lines[0].split()[2]
        elif proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"axtui serve did not start: {log.read_text()}")
        time.sleep(0.02)
    while time.monotonic() < deadline:  # the port is announced when bound, before startup
        try:
            if httpx.get(base.removesuffix("/v1") + "/readyz").status_code == 200:
                return proc, base, url
        except httpx.ConnectError:
            pass
        time.sleep(0.05)
    proc.kill()
    pytest.fail("axtui serve never became ready")


async def _load_then_sigterm(proc: subprocess.Popen, base: str, upstream: OpenAIUpstream,
                             n: int) -> tuple[list, float]:
    """Fire `n` requests, SIGTERM once all are in flight upstream; (results, signal time)."""
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=n)) as c:
        calls = [asyncio.ensure_future(c.post(f"{base}/chat/completions", json={
            "model": "chat", "messages": HELLO})) for _ in range(n)]
        while upstream.received < n:  # every request accepted and in flight upstream
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        return await asyncio.gather(*calls, return_exceptions=True), sent_at


def test_sigterm_during_load_finishes_in_flight_requests_and_loses_no_record(loop, tmp_path):
    upstream = OpenAIUpstream(latency_s=0.6)
    loop.run(upstream.start())
    proc, base, url = _start_serve(tmp_path, upstream.base_url, grace=10)
    try:
        results, _ = asyncio.run(_load_then_sigterm(proc, base, upstream, 50))
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        loop.run(upstream.close())
    assert [getattr(r, "status_code", repr(r)) for r in results] == [200] * 50
    records = store_records(url)
    assert len(records) == 50
    assert {r.id for r in records} == {r.headers["x-request-id"] for r in results}
    assert {r.outcome for r in records} == {"ok"}


def test_sigterm_past_the_grace_period_answers_503_and_records_what_the_client_saw(loop,
                                                                                    tmp_path):
    upstream = OpenAIUpstream(latency_s=5.0)
    loop.run(upstream.start())
    proc, base, url = _start_serve(tmp_path, upstream.base_url, grace=0.3)
    try:
        results, sent_at = asyncio.run(_load_then_sigterm(proc, base, upstream, 20))
        assert proc.wait(timeout=10) == 0
        # bounded by the 0.3 s grace period, not the upstream's 5 s
        assert time.monotonic() - sent_at < 3.5
    finally:
        if proc.poll() is None:
            proc.kill()
        loop.run(upstream.close())
    # each cut request gets a clean OpenAI error, never a 500 or a silent hang-up
    assert {r.status_code for r in results} == {503}
    assert {r.json()["error"]["code"] for r in results} == {"shutting_down"}
    records = store_records(url)
    assert len(records) == 20
    assert {r.outcome for r in records} == {"cancelled"}
    # each answer names its record, and the record has the status the client saw
    assert {r.id for r in records} == {r.headers["x-request-id"] for r in results}
    assert {r.status for r in records} == {503}
    assert "Exception in ASGI application" not in (tmp_path / "serve.log").read_text()


def test_the_configs_flags_are_in_the_store_once_the_gateway_has_started(loop, tmp_path):
    from axtui.flags.ops import list_flags
    from axtui.store.db import open_store

    good = OpenAIUpstream()
    loop.run(good.start())
    url = f"sqlite:///{tmp_path}/flags.db"
    cfg = make_config({
        "store": {"url": url},
        "providers": {"good": openai_provider(good.base_url)},
        "deployments": [deployment("good", "x"), deployment("good", "y")],
        "routes": {"chat": {"candidates": ["good/x"]}},
        "flags": {"to_y": {"pct": 5, "owner": "tests",
                           "effect": {"kind": "split", "route": "chat", "deployment": "good/y"}}},
    })
    served = loop.run(start_gateway(cfg, url))
    try:
        flags = {f.name: f.pct for f in list_flags(open_store(url))}
        assert flags == {"to_y": 5}
    finally:
        loop.run(stop_gateway(served))
        loop.run(good.close())
