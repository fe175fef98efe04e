"""Capability probes against loopback upstreams that lie about (or lack) a capability, and
against the simulated providers of the bundled demo."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from axtui.cli.probe import ProbeResult, ProbeStatus, probe_all
from axtui.clock import VirtualClock
from axtui.config import Config, load_config, parse_config
from axtui.providers.transport import make_http_client
from axtui.records import ErrorKind
from tests.fakes.loopback import ReceivedRequest, Reply
from tests.providers.lying_upstreams import AnthropicModel, GeminiModel, OpenAIModel

KEY = "sk-probe-0123456789abcdef0123456789"
ENV = "AXTUI_TEST_PROBE_KEY"
STD = ["streaming", "tools", "json"]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


def config(protocol: str, base_url: str, model: str, capabilities: list[str],
           provider: str = "up") -> Config:  # fmt: skip
    return parse_config({
        "providers": {provider: {"protocol": protocol, "base_url": base_url, "api_key_env": ENV}},
        "deployments": [{"provider": provider, "model": model, "capabilities": capabilities}],
        "routes": {"chat": {"candidates": [f"{provider}/{model}"]}},
    })  # fmt: skip


async def probe_one(cfg: Config, client: httpx.AsyncClient, timeout_s: float = 5.0
                    ) -> ProbeResult:  # fmt: skip
    [result] = await probe_all(cfg, client=client, timeout_s=timeout_s)
    return result


def status(result: ProbeResult) -> dict[str, str]:
    return {c: p.status.value for c, p in result.capabilities.items()}


# --------------------------------------------------------------------------- OpenAI-compatible


async def test_a_model_that_streams_while_the_catalog_says_it_cannot_is_working_but_unclaimed(
    http_client: httpx.AsyncClient,
) -> None:
    async with OpenAIModel(api_key=KEY) as up:
        r = await probe_one(config("openai", up.base_url, "cheap-1", ["tools", "json"]),
                            http_client)  # fmt: skip
    assert r.reachable
    assert r.capabilities["streaming"].status is ProbeStatus.supported
    assert r.working_but_unclaimed == ["streaming"]
    assert r.claimed_but_missing == []
    assert r.suggested_capabilities() == ["json", "streaming", "tools"]
    assert [bool(q.body.get("stream")) for q in up.requests] == [False, True, False, False]
    assert all(q.body["max_tokens"] <= 64 for q in up.requests)  # tiny requests only


async def test_a_400_for_tools_while_the_catalog_claims_tools_is_claimed_but_missing(
    http_client: httpx.AsyncClient,
) -> None:
    async with OpenAIModel(api_key=KEY, refuses={"tools"}) as up:
        r = await probe_one(config("openai", up.base_url, "gemma2:2b", STD), http_client)
    tools = r.capabilities["tools"]
    assert tools.status is ProbeStatus.unsupported
    assert tools.error_kind is ErrorKind.bad_request
    assert "does not support tools" in tools.detail
    assert r.claimed_but_missing == ["tools"]
    assert r.working_but_unclaimed == []
    assert r.suggested_capabilities() == ["json", "streaming"]


async def test_a_plain_text_answer_to_a_forced_tool_call_means_tools_are_ignored(
    http_client: httpx.AsyncClient,
) -> None:
    async with OpenAIModel(api_key=KEY, ignores={"tools"}) as up:
        r = await probe_one(config("openai", up.base_url, "m", STD), http_client)
    assert up.requests[2].body["tool_choice"] == {"type": "function",
                                                  "function": {"name": "axtui_probe"}}  # fmt: skip
    assert r.capabilities["tools"].status is ProbeStatus.unsupported
    assert "plain text despite a forced tool call" in r.capabilities["tools"].detail
    assert r.claimed_but_missing == ["tools"]


async def test_a_stream_request_answered_with_a_plain_json_body_means_no_streaming(
    http_client: httpx.AsyncClient,
) -> None:
    async with OpenAIModel(api_key=KEY, ignores={"streaming"}) as up:
        r = await probe_one(config("openai", up.base_url, "m", STD), http_client)
    streaming = r.capabilities["streaming"]
    assert streaming.status is ProbeStatus.unsupported
    assert "without a stream" in streaming.detail
    assert r.claimed_but_missing == ["streaming"]


async def test_a_refused_stream_agrees_with_a_catalog_that_does_not_claim_streaming(
    http_client: httpx.AsyncClient,
) -> None:
    async with OpenAIModel(api_key=KEY, refuses={"streaming"}) as up:
        r = await probe_one(config("openai", up.base_url, "o1-ish", ["tools", "json"]),
                            http_client)  # fmt: skip
    assert r.capabilities["streaming"].status is ProbeStatus.unsupported
    assert "'stream' does not support true" in r.capabilities["streaming"].detail
    assert not r.has_drift


@pytest.mark.parametrize(
    ("lack", "detail"),
    [({"refuses": {"json"}}, "refused JSON mode"), ({"ignores": {"json"}}, "not a JSON object")],
)
async def test_json_mode_refused_or_ignored_is_claimed_but_missing(
    http_client: httpx.AsyncClient, lack: dict[str, set[str]], detail: str
) -> None:
    async with OpenAIModel(api_key=KEY, **lack) as up:
        r = await probe_one(config("openai", up.base_url, "m", STD), http_client)
    assert up.requests[3].body["response_format"] == {"type": "json_object"}
    assert r.capabilities["json"].status is ProbeStatus.unsupported
    assert detail in r.capabilities["json"].detail
    assert r.claimed_but_missing == ["json"]


async def test_a_401_is_unreachable_with_an_auth_error_and_no_drift_claims(
    http_client: httpx.AsyncClient,
) -> None:
    # This upstream echoes a wrong key whole, as some compatible servers do.
    async with OpenAIModel(api_key="sk-the-right-key-abcdef0123456789", echo_full_key=True) as up:
        r = await probe_one(config("openai", up.base_url, "m", STD), http_client)
    assert not r.reachable
    assert r.completion.status is ProbeStatus.error
    assert r.completion.error_kind is ErrorKind.auth
    assert "api_key_env" in r.completion.detail  # says where to look
    assert {status(r)[c] for c in STD} == {"not_probed"}
    assert not r.has_drift and r.inconclusive == []
    assert len(up.requests) == 1  # an auth failure is not retried, nor probed further
    assert KEY not in orjson.dumps(r.to_json()).decode()


async def test_a_refused_connection_is_unreachable_with_a_connect_error(
    http_client: httpx.AsyncClient,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await probe_one(config("openai", f"http://127.0.0.1:{port}/v1", "m", STD), http_client)
    assert not r.reachable
    assert r.completion.error_kind is ErrorKind.connect
    assert not r.has_drift


async def test_a_single_500_is_retried_once_and_not_reported(
    http_client: httpx.AsyncClient,
) -> None:
    async with OpenAIModel(api_key=KEY) as up:
        up.error(500, "The server had an error while processing your request.",
                 headers={"retry-after-ms": "10"})  # fmt: skip
        r = await probe_one(config("openai", up.base_url, "m", STD), http_client)
    assert r.reachable and not r.has_drift
    assert len(up.requests) == 5


async def test_a_stalled_probe_is_inconclusive_not_drift(http_client: httpx.AsyncClient) -> None:
    async with OpenAIModel(api_key=KEY) as up:

        def answer_now(rec: ReceivedRequest) -> Reply:
            return up.render(up.default_answer(rec), rec)

        up.push(answer_now)  # the plain completion
        up.answer("ok", delay_s=2.0)  # the stream: headers never come in time
        r = await probe_one(config("openai", up.base_url, "m", STD), http_client, timeout_s=0.3)
    streaming = r.capabilities["streaming"]
    assert streaming.status is ProbeStatus.error
    assert streaming.error_kind is ErrorKind.timeout
    assert r.inconclusive == ["streaming"]
    assert not r.has_drift
    assert status(r)["tools"] == status(r)["json"] == "supported"


async def test_deployments_are_probed_in_parallel_up_to_the_concurrency(
    http_client: httpx.AsyncClient,
) -> None:
    class Counting(OpenAIModel):
        inflight = peak = 0

        async def _send(self, request: Any, reply: Reply) -> Any:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
            try:
                return await super()._send(request, reply)
            finally:
                self.inflight -= 1

    async with Counting(api_key=KEY, latency_s=0.03) as up:
        cfg = parse_config({
            "providers": {"up": {"protocol": "openai", "base_url": up.base_url,
                                 "api_key_env": ENV}},
            "deployments": [{"provider": "up", "model": f"m{i}", "capabilities": STD}
                            for i in range(4)],
            "routes": {"chat": {"candidates": ["up/m0"]}},
        })  # fmt: skip
        results = await probe_all(cfg, client=http_client, concurrency=2)
    assert [r.deployment for r in results] == ["up/m0", "up/m1", "up/m2", "up/m3"]
    assert up.peak == 2
    assert len(up.requests) == 16
    assert not http_client.is_closed  # a client passed in stays the caller's


# --------------------------------------------------------------------------- other wire formats


async def test_gemini_streaming_unclaimed_and_tools_claimed_but_refused(
    http_client: httpx.AsyncClient,
) -> None:
    async with GeminiModel(api_key=KEY, refuses={"tools"}) as up:
        r = await probe_one(
            config("gemini", up.base_url, "gemini-2.0-flash-lite", ["tools", "json", "vision"]),
            http_client,
        )
    assert any("streamGenerateContent?alt=sse" in u for u in up.urls)
    assert r.working_but_unclaimed == ["streaming"]
    assert r.claimed_but_missing == ["tools"]
    assert "Function calling is not enabled" in r.capabilities["tools"].detail
    assert r.capabilities["json"].status is ProbeStatus.supported
    assert r.capabilities["vision"].status is ProbeStatus.not_probed
    assert r.suggested_capabilities() == ["json", "streaming", "vision"]


async def test_anthropic_tools_and_json_working_but_unclaimed(
    http_client: httpx.AsyncClient,
) -> None:
    async with AnthropicModel(api_key=KEY) as up:
        r = await probe_one(
            config("anthropic", up.base_url, "claude-3-5-haiku-latest", ["streaming"]),
            http_client,
        )
    assert status(r) == {"streaming": "supported", "tools": "supported", "json": "supported",
                         "vision": "not_probed", "reasoning": "not_probed"}  # fmt: skip
    assert r.working_but_unclaimed == ["json", "tools"]
    assert up.requests[2].body["tool_choice"] == {"type": "tool", "name": "axtui_probe"}


async def test_anthropic_answering_prose_to_a_forced_tool_is_claimed_but_missing(
    http_client: httpx.AsyncClient,
) -> None:
    async with AnthropicModel(api_key=KEY) as up:
        up.answer("ok")  # plain completion
        up.answer("ok")  # stream
        up.answer("I would rather not call tools.")  # the forced tool call
        r = await probe_one(config("anthropic", up.base_url, "claude-x", STD), http_client)
    assert r.claimed_but_missing == ["tools"]


# --------------------------------------------------------------------------- simulated providers


def test_a_sim_honours_its_supports_list() -> None:
    cfg = parse_config({
        "providers": {"sim": {"protocol": "sim", "sim": {"supports": ["streaming"],
                                                         "latency_p50_ms": 50,
                                                         "latency_p95_ms": 80}}},
        "deployments": [{"provider": "sim", "model": "tiny", "capabilities": STD}],
        "routes": {"chat": {"candidates": ["sim/tiny"]}},
    })  # fmt: skip
    clock = VirtualClock()
    [r] = clock.run(probe_all(cfg, clock=clock))
    assert r.reachable
    assert r.claimed_but_missing == ["json", "tools"]
    assert "tools are not supported" in r.capabilities["tools"].detail
    assert r.capabilities["streaming"].status is ProbeStatus.supported


def test_the_demo_reports_flash_lite_streaming_as_working_but_unclaimed() -> None:
    cfg = load_config()
    flash_lite = cfg.deployment("gemini/gemini-2.0-flash-lite")
    assert "streaming" not in (flash_lite.capabilities or [])  # the demo's point
    clock = VirtualClock()
    results = clock.run(probe_all(cfg, clock=clock))
    assert [r.deployment for r in results] == [d.id for d in cfg.deployments]
    assert all(r.reachable for r in results)
    drift = {r.deployment: (r.working_but_unclaimed, r.claimed_but_missing)
             for r in results if r.has_drift}  # fmt: skip
    assert drift == {"gemini/gemini-2.0-flash-lite": (["streaming"], [])}


def test_names_pick_a_provider_or_a_deployment() -> None:
    cfg = load_config()
    clock = VirtualClock()
    by_provider = clock.run(probe_all(cfg, ["gemini"], clock=clock))
    assert [r.deployment for r in by_provider] == ["gemini/gemini-2.0-flash-lite",
                                                   "gemini/gemini-2.5-flash"]  # fmt: skip
    by_id = clock.run(probe_all(cfg, "groq/llama-3.1-8b-instant", clock=clock))
    assert [r.deployment for r in by_id] == ["groq/llama-3.1-8b-instant"]


def test_an_unknown_name_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown provider or deployment 'nope'") as e:
        VirtualClock().run(probe_all(load_config(), ["nope"]))
    assert "gemini/gemini-2.0-flash-lite" in str(e.value) and "groq" in str(e.value)


def test_the_json_report_is_plain_data() -> None:
    clock = VirtualClock()
    [r] = clock.run(probe_all(load_config(), ["gemini/gemini-2.0-flash-lite"], clock=clock))
    data = orjson.loads(orjson.dumps(r.to_json()))
    assert data["working_but_unclaimed"] == ["streaming"]
    assert data["capabilities"]["streaming"]["status"] == "supported"
    assert data["capabilities"]["vision"]["status"] == "not_probed"
    assert data["completion"]["latency_ms"] > 0
