"""axtui's own provider adapters as the sim's clients, one protocol each: what the gateway
learns from a healthy answer, an error, a rate limit, an outage and a cut stream."""

from __future__ import annotations

import time

import httpx
import pytest

from axtui.clock import RealClock
from axtui.providers.anthropic import AnthropicProvider
from axtui.providers.base import ChatChunk, ChatRequest, Provider, Timeouts
from axtui.providers.cohere import CohereProvider
from axtui.providers.errors import ProviderError
from axtui.providers.gemini import GeminiProvider
from axtui.providers.openai import OpenAIProvider
from axtui.records import ErrorKind
from tests.sim.conftest import SimFactory, scenario

HELLO = [{"role": "user", "content": "Say hello"}]
PROTOCOLS = {
    "openai": (OpenAIProvider, "gpt-4o-mini"),
    "anthropic": (AnthropicProvider, "claude-3-5-haiku-latest"),
    "gemini": (GeminiProvider, "gemini-2.0-flash"),
    "cohere": (CohereProvider, "command-r"),
}


def _adapter(sim, protocol: str, client: httpx.AsyncClient) -> Provider:
    cls, _ = PROTOCOLS[protocol]
    return cls(protocol, base_url=sim.base_url("up"), api_key="sim-key", client=client,
               clock=RealClock(), timeouts=Timeouts(connect=2, read=2, total=5))


def _serve(sim: SimFactory, protocol: str, *faults: dict, output_tokens: int = 6, **upstream):
    up = {"name": "up", "protocol": protocol, "model": PROTOCOLS[protocol][1],
          "output_tokens": output_tokens, **upstream}
    return sim(scenario(up, faults=tuple({"upstream": "up", **f} for f in faults)))


async def _stream(adapter: Provider, protocol: str) -> list[ChatChunk]:
    return [c async for c in adapter.stream(ChatRequest(HELLO, stream=True),
                                            PROTOCOLS[protocol][1])]


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
async def test_a_healthy_answer_has_the_text_and_usage(sim: SimFactory, protocol: str,
                                                       http_client) -> None:
    s = _serve(sim, protocol, output_tokens=4)
    resp = await _adapter(s, protocol, http_client).complete(ChatRequest(HELLO),
                                                             PROTOCOLS[protocol][1])
    assert resp.content == "the quick brown fox "
    assert resp.usage.completion_tokens == 4
    assert resp.finish_reason == "stop"


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
async def test_a_healthy_stream_finishes_with_usage(sim: SimFactory, protocol: str,
                                                    http_client) -> None:
    s = _serve(sim, protocol, output_tokens=5)
    chunks = await _stream(_adapter(s, protocol, http_client), protocol)
    assert "".join(c.content or "" for c in chunks) == "the quick brown fox jumps "
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
async def test_an_error_fault_is_a_server_error_with_its_status(sim: SimFactory, protocol: str,
                                                                http_client) -> None:
    s = _serve(sim, protocol, {"kind": "error", "status": 500})
    with pytest.raises(ProviderError) as e:
        await _adapter(s, protocol, http_client).complete(ChatRequest(HELLO),
                                                          PROTOCOLS[protocol][1])
    assert (e.value.kind, e.value.status) == (ErrorKind.server, 500)


@pytest.mark.parametrize(("protocol", "retry_after"), [
    ("openai", 2.0), ("anthropic", 2.0), ("gemini", 2.0), ("cohere", None)])
async def test_a_rate_limit_is_learned_with_its_retry_after(
        sim: SimFactory, protocol: str, retry_after: float | None, http_client) -> None:
    """Cohere says no more than its message: no retry-after reaches the gateway."""
    s = _serve(sim, protocol, {"kind": "rate_limit", "retry_after_s": 2, "remaining": 0})
    with pytest.raises(ProviderError) as e:
        await _adapter(s, protocol, http_client).complete(ChatRequest(HELLO),
                                                          PROTOCOLS[protocol][1])
    assert (e.value.kind, e.value.status) == (ErrorKind.rate_limited, 429)
    assert e.value.retry_after_s == retry_after


async def test_openais_rate_limit_headers_reach_the_adapter(sim: SimFactory,
                                                            http_client) -> None:
    s = _serve(sim, "openai", {"kind": "rate_limit", "retry_after_s": 1, "remaining": 0})
    with pytest.raises(ProviderError) as e:
        await _adapter(s, "openai", http_client).complete(ChatRequest(HELLO), "gpt-4o-mini")
    info = e.value.ratelimit
    assert info is not None
    assert (info.remaining_requests, info.reset_requests_s) == (0, None)


async def test_a_healthy_openai_answer_reports_the_upstreams_window(sim: SimFactory,
                                                                    http_client) -> None:
    s = _serve(sim, "openai")
    adapter = _adapter(s, "openai", http_client)
    await adapter.complete(ChatRequest(HELLO), "gpt-4o-mini")
    resp = await adapter.complete(ChatRequest(HELLO), "gpt-4o-mini")
    assert resp.ratelimit is not None
    assert (resp.ratelimit.limit_requests, resp.ratelimit.remaining_requests) == (10000, 9998)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
async def test_an_outage_is_a_connection_closed_before_answering(
        sim: SimFactory, protocol: str, http_client) -> None:
    """The sim resets after the request went out: the adapters call that `malformed`, as
    they do any connection that ends without an answer (a refused connect is `connect`)."""
    s = _serve(sim, protocol, {"kind": "outage"})
    with pytest.raises(ProviderError) as e:
        await _adapter(s, protocol, http_client).complete(ChatRequest(HELLO),
                                                          PROTOCOLS[protocol][1])
    assert e.value.kind == ErrorKind.malformed, e.value
    assert "closed the connection before answering" in e.value.message


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
async def test_a_cut_stream_fails_after_its_first_words(sim: SimFactory, protocol: str,
                                                        http_client) -> None:
    s = _serve(sim, protocol, {"kind": "cut_stream", "after_chunks": 4}, output_tokens=12)
    seen: list[ChatChunk] = []
    with pytest.raises(ProviderError):
        async for c in _adapter(s, protocol, http_client).stream(
                ChatRequest(HELLO, stream=True), PROTOCOLS[protocol][1]):
            seen.append(c)
    assert all(c.finish_reason is None for c in seen)
    assert "".join(c.content or "" for c in seen).startswith("the ")


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
async def test_a_hanging_outage_is_a_timeout(sim: SimFactory, protocol: str,
                                             http_client) -> None:
    s = _serve(sim, protocol, {"kind": "outage", "mode": "hang"})
    cls, model = PROTOCOLS[protocol]
    adapter = cls(protocol, base_url=s.base_url("up"), api_key="sim-key", client=http_client,
                  clock=RealClock(), timeouts=Timeouts(connect=1, read=0.3, total=0.5))
    with pytest.raises(ProviderError) as e:
        await adapter.complete(ChatRequest(HELLO), model)
    assert e.value.kind == ErrorKind.timeout, e.value


@pytest.mark.parametrize("protocol", ["openai", "gemini"])
async def test_latency_and_a_slow_first_byte_delay_the_stream(
        sim: SimFactory, protocol: str, http_client) -> None:
    s = _serve(sim, protocol, {"kind": "latency", "factor": 5.0},
               {"kind": "slow_first_byte", "delay_ms": 100}, ttft_ms=20)
    began = time.monotonic()
    chunks = await _stream(_adapter(s, protocol, http_client), protocol)
    assert time.monotonic() - began >= 0.1 + 5 * 0.02
    assert chunks[-1].finish_reason == "stop"
