"""The sim's anthropic protocol as the official anthropic SDK sees it, on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anthropic
import pytest

from tests.sim.conftest import SimFactory, scenario

HELLO = [{"role": "user", "content": "Say hello"}]


def _client(sim, name: str = "claude") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_url(name), api_key="sk-ant-sim",
                               max_retries=0)


def _up(**kw):
    return {"name": "claude", "protocol": "anthropic", "model": "claude-3-5-haiku-latest", **kw}


def _ask(client: anthropic.Anthropic, **kw):
    return client.messages.create(model="claude-3-5-haiku-latest", max_tokens=100,
                                  messages=HELLO, **kw)


def test_a_healthy_message_has_text_usage_and_ratelimit_headers(sim: SimFactory) -> None:
    s = sim(scenario(_up(output_tokens=3)))
    raw = _client(s).messages.with_raw_response.create(
        model="claude-3-5-haiku-latest", max_tokens=100, messages=HELLO)
    msg = raw.parse()
    assert msg.content[0].text == "the quick brown "
    assert (msg.stop_reason, msg.usage.output_tokens) == ("end_turn", 3)
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "9999"
    reset = datetime.strptime(raw.headers["anthropic-ratelimit-requests-reset"],
                              "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(reset - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_healthy_stream_assembles_into_the_message(sim: SimFactory) -> None:
    s = sim(scenario(_up(output_tokens=4)))
    with _client(s).messages.stream(model="claude-3-5-haiku-latest", max_tokens=100,
                                    messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "the quick brown fox "
    assert (final.stop_reason, final.usage.output_tokens) == ("end_turn", 4)


def test_max_tokens_stops_with_reason_max_tokens(sim: SimFactory) -> None:
    s = sim(scenario(_up(output_tokens=10)))
    msg = _client(s).messages.create(model="claude-3-5-haiku-latest", max_tokens=2,
                                     messages=HELLO)
    assert (msg.stop_reason, msg.usage.output_tokens) == ("max_tokens", 2)


def test_a_529_error_is_anthropics_overloaded_error(sim: SimFactory) -> None:
    s = sim(scenario(_up(), faults=({"upstream": "claude", "kind": "error", "status": 529},)))
    with pytest.raises(anthropic.APIStatusError) as e:
        _ask(_client(s))
    assert e.value.status_code == 529
    assert e.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert e.value.response.headers["request-id"].startswith("req_")


def test_a_rate_limit_is_a_rate_limit_error_with_retry_after(sim: SimFactory) -> None:
    s = sim(scenario(_up(), faults=({"upstream": "claude", "kind": "rate_limit",
                                     "retry_after_s": 3, "remaining": 0},)))
    with pytest.raises(anthropic.RateLimitError) as e:
        _ask(_client(s))
    h = e.value.response.headers
    assert h["retry-after"] == "3"
    assert h["anthropic-ratelimit-requests-remaining"] == "0"
    assert "anthropic-ratelimit-requests-reset" not in h
    assert e.value.body["error"]["type"] == "rate_limit_error"


def test_an_outage_is_a_connection_error(sim: SimFactory) -> None:
    s = sim(scenario(_up(), faults=({"upstream": "claude", "kind": "outage"},)))
    with pytest.raises(anthropic.APIConnectionError):
        _ask(_client(s))


def test_a_cut_stream_never_reaches_message_stop(sim: SimFactory) -> None:
    s = sim(scenario(_up(output_tokens=10),
                     faults=({"upstream": "claude", "kind": "cut_stream", "after_chunks": 5},)))
    events = []
    # the SDK lets the transport's error through mid-stream
    with pytest.raises(Exception, match="incomplete chunked read"):
        for event in _ask(_client(s), stream=True):
            events.append(event.type)
    # five frames: message_start, content_block_start, ping (the SDK drops it), two deltas
    assert events == ["message_start", "content_block_start",
                      "content_block_delta", "content_block_delta"]


def test_a_request_without_max_tokens_is_refused_as_anthropic_would(sim: SimFactory) -> None:
    s = sim(scenario(_up()))
    with pytest.raises(anthropic.BadRequestError) as e:
        _client(s).post("/v1/messages", cast_to=object,
                        body={"model": "claude-3-5-haiku-latest", "messages": HELLO})
    assert e.value.body["error"] == {"type": "invalid_request_error",
                                     "message": "max_tokens: Field required"}


def test_latency_and_a_slow_first_byte_delay_the_message(sim: SimFactory) -> None:
    import time

    s = sim(scenario(_up(latency_ms=30), faults=(
        {"upstream": "claude", "kind": "latency", "factor": 3.0},
        {"upstream": "claude", "kind": "slow_first_byte", "delay_ms": 100})))
    began = time.monotonic()
    assert _ask(_client(s)).stop_reason == "end_turn"
    assert time.monotonic() - began >= 0.1 + 3 * 0.03
