"""The sim as the official openai SDK sees it: each fault kind, on loopback."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from axtui.clock import VirtualClock
from tests.sim.conftest import SimFactory, scenario

HELLO = [{"role": "user", "content": "Say hello"}]


def _client(sim, name: str = "alpha", **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url(name), api_key="sk-sim", max_retries=0, **kw)


def _ask(client: openai.OpenAI, **kw):
    return client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, **kw)


def test_a_healthy_upstream_answers_with_content_usage_and_ratelimit_headers(
        sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha", "output_tokens": 5}))
    raw = _client(s).chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                              messages=HELLO)
    done = raw.parse()
    assert done.choices[0].message.content == "the quick brown fox jumps "
    assert done.choices[0].finish_reason == "stop"
    assert done.usage.completion_tokens == 5 and done.model == "gpt-4o-mini"
    assert raw.headers["x-ratelimit-limit-requests"] == "10000"
    assert raw.headers["x-ratelimit-remaining-requests"] == "9999"
    assert raw.headers["x-request-id"].startswith("req_")


def test_a_healthy_stream_ends_with_a_finish_and_usage(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha", "output_tokens": 4}))
    chunks = list(_ask(_client(s), stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "the quick brown fox "
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 4


def test_only_tokens_are_paced_the_role_and_closing_frames_go_with_them(
        sim: SimFactory) -> None:
    # as vendors stream: the role frame comes with the first token, and the finish, usage
    # and [DONE] right after the last (pacing them skewed drills' overhead by two gaps)
    s = sim(scenario({"name": "alpha", "output_tokens": 3, "ttft_ms": 1, "chunk_ms": 300}))
    t0, seen = time.perf_counter(), []
    for c in _ask(_client(s), stream=True, stream_options={"include_usage": True}):
        seen.append((time.perf_counter() - t0, c))
    role, first = seen[0][0], seen[1][0]
    assert seen[1][1].choices[0].delta.content == "the "
    assert first - role < 0.15  # not a gap apart
    tokens = [t for t, c in seen if c.choices and c.choices[0].delta.content]
    assert all(b - a >= 0.29 for a, b in zip(tokens, tokens[1:], strict=False))
    assert seen[-1][0] - tokens[-1] < 0.15  # finish and usage at once
    assert seen[-1][1].usage.completion_tokens == 3


def test_max_tokens_shortens_the_answer_with_finish_length(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha", "output_tokens": 10}))
    done = _ask(_client(s), max_tokens=3)
    assert done.usage.completion_tokens == 3 and done.choices[0].finish_reason == "length"


def test_an_error_fault_answers_its_status_with_openais_error_body(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "error",
                                                 "status": 503},)))
    with pytest.raises(openai.InternalServerError) as e:
        _ask(_client(s))
    assert e.value.status_code == 503
    assert e.value.body == {"message": "The server is overloaded or not ready yet.",
                            "type": "server_error", "param": None, "code": None}


def test_a_rate_limit_fault_sends_retry_after_and_remaining_without_a_reset(
        sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "rate_limit",
                                                 "retry_after_s": 2, "remaining": 0},)))
    with pytest.raises(openai.RateLimitError) as e:
        _ask(_client(s))
    h = e.value.response.headers
    assert (h["retry-after"], h["x-ratelimit-remaining-requests"]) == ("2", "0")
    assert "x-ratelimit-reset-requests" not in h
    assert e.value.body["code"] == "rate_limit_exceeded"


def test_a_rate_limit_with_reset_s_sends_the_reset(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "rate_limit",
                                                 "reset_s": 0.5},)))
    with pytest.raises(openai.RateLimitError) as e:
        _ask(_client(s))
    assert e.value.response.headers["x-ratelimit-reset-requests"] == "500ms"


def test_an_outage_resets_the_connection(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "outage"},)))
    with pytest.raises(openai.APIConnectionError) as e:
        _ask(_client(s))
    assert "Connection reset by peer" in str(e.value.__cause__)


def test_a_closing_outage_ends_the_connection_without_an_answer(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "outage",
                                                 "mode": "close"},)))
    with pytest.raises(openai.APIConnectionError) as e:
        _ask(_client(s))
    assert "Server disconnected without sending a response" in str(e.value.__cause__)


def test_a_hanging_outage_holds_the_call_until_the_client_gives_up(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "outage",
                                                 "mode": "hang"},)))
    with pytest.raises(openai.APITimeoutError):
        _ask(_client(s, timeout=0.3))
    assert httpx.get(s.url + "/_sim/stats").json()["upstreams"]["alpha"]["calls"] == 1


def test_a_cut_stream_ends_after_its_chunks_without_finish_or_done(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha", "output_tokens": 10},
                     faults=({"upstream": "alpha", "kind": "cut_stream", "after_chunks": 3},)))
    seen = []
    with pytest.raises(openai.APIConnectionError) as e:
        for chunk in _ask(_client(s), stream=True):
            seen.append(chunk)
    assert "incomplete chunked read" in str(e.value.__cause__)
    # the role chunk and two words came through; no finish_reason ever did
    assert len(seen) == 3
    assert "".join(c.choices[0].delta.content or "" for c in seen) == "the quick "
    assert all(c.choices[0].finish_reason is None for c in seen)


def test_a_cut_stream_leaves_plain_answers_alone(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "cut_stream"},)))
    assert _ask(_client(s)).choices[0].finish_reason == "stop"


def test_a_latency_fault_multiplies_the_answer_time(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha", "latency_ms": 50},
                     faults=({"upstream": "alpha", "kind": "latency", "factor": 4.0},)))
    began = time.monotonic()
    _ask(_client(s))
    assert time.monotonic() - began >= 0.2


def test_a_slow_first_byte_delays_the_stream_head(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha",
                                                 "kind": "slow_first_byte",
                                                 "delay_ms": 300},)))
    began = time.monotonic()
    stream = _ask(_client(s), stream=True)
    first_at = time.monotonic() - began
    assert first_at >= 0.3
    assert [c.choices[0].finish_reason for c in stream][-1] == "stop"


def test_faults_follow_the_scenario_clock(sim: SimFactory) -> None:
    clock = VirtualClock()
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "error",
                                                 "start_s": 10, "end_s": 40},)), clock=clock)
    client = _client(s)
    assert _ask(client).choices
    clock.advance(10)
    with pytest.raises(openai.InternalServerError):
        _ask(client)
    clock.advance(30)
    assert _ask(client).choices


def test_a_rate_share_leaves_the_rest_served(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha"}, faults=({"upstream": "alpha", "kind": "rate_limit",
                                                 "rate": 0.5},)))
    client, ok = _client(s), 0
    for _ in range(60):
        try:
            _ask(client)
            ok += 1
        except openai.RateLimitError:
            pass
    assert 18 <= ok <= 42  # ~half, and the exact count is fixed by the seed (see determinism)


def test_ratelimit_headers_plain_leaves_them_off_streams(sim: SimFactory) -> None:
    s = sim(scenario({"name": "alpha", "ratelimit_headers": "plain"}))
    client = _client(s)
    plain = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                            messages=HELLO)
    assert plain.headers["x-ratelimit-remaining-requests"] == "9999"
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=HELLO, stream=True) as stream:
        assert "x-ratelimit-remaining-requests" not in stream.headers
        assert stream.headers["x-request-id"].startswith("req_")
