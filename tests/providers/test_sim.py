"""The simulated provider, run in virtual time (`VirtualClock.run`: sleeps cost nothing)."""

from __future__ import annotations

import asyncio
import json
import math
import statistics

import pytest

from axtui.clock import VirtualClock
from axtui.config import SimProfile
from axtui.providers.base import ChatRequest, Timeouts
from axtui.providers.errors import ProviderError
from axtui.providers.sim import SimProvider
from axtui.records import ErrorKind

HELLO = [{"role": "user", "content": "Say hello to the on-call engineer, briefly."}]


IMAGE_MESSAGE = {
    "role": "user",
    "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ],
}


def req(**kw) -> ChatRequest:
    return ChatRequest(messages=kw.pop("messages", HELLO), **kw)


def sim(clock: VirtualClock, name: str = "acme", **profile) -> SimProvider:
    extra = {k: profile.pop(k) for k in ("rpm", "tpm", "timeouts", "models") if k in profile}
    return SimProvider(name, profile=SimProfile(**profile), clock=clock, **extra)


async def timed(clock: VirtualClock, p: SimProvider, request: ChatRequest, model: str = "m"):
    """(latency in seconds, response or ProviderError)."""
    t = clock.monotonic()
    try:
        out = await p.complete(request, model)
    except ProviderError as e:
        out = e
    return clock.monotonic() - t, out


def outcomes(clock: VirtualClock, p: SimProvider, n: int, request: ChatRequest | None = None):
    async def main():
        return await asyncio.gather(*(timed(clock, p, request or req()) for _ in range(n)))

    return clock.run(main())


def summary(results) -> list[tuple]:
    return [
        (round(lat, 9), out.kind if isinstance(out, ProviderError) else out.usage.completion_tokens)
        for lat, out in results
    ]


# --------------------------------------------------------------------------- determinism


def test_same_seed_and_name_play_out_alike():
    profile = dict(seed=7, errors={"server": 0.1, "overloaded": 0.1})
    a, b = VirtualClock(), VirtualClock()
    first = summary(outcomes(a, sim(a, **profile), 200))
    second = summary(outcomes(b, sim(b, **profile), 200))
    assert first == second
    assert any(isinstance(k, ErrorKind) for _, k in first)


def test_another_seed_or_provider_plays_out_differently():
    c1, c2, c3 = VirtualClock(), VirtualClock(), VirtualClock()
    base = summary(outcomes(c1, sim(c1, seed=1), 50))
    assert base != summary(outcomes(c2, sim(c2, seed=2), 50))
    assert base != summary(outcomes(c3, sim(c3, "other", seed=1), 50))


# --------------------------------------------------------------------------- shape of answers


def test_latency_follows_the_profiles_p50_and_p95():
    clock = VirtualClock()
    p = sim(clock, latency_p50_ms=400, latency_p95_ms=1200)
    lat = sorted(t for t, _ in outcomes(clock, p, 4000))
    p50, p95 = lat[len(lat) // 2], lat[int(len(lat) * 0.95)]
    assert p50 == pytest.approx(0.400, rel=0.06)
    assert p95 == pytest.approx(1.200, rel=0.10)
    assert p.calls == 4000


def test_answers_carry_filler_text_and_usage():
    clock = VirtualClock()
    p = sim(clock, output_tokens_mean=120)
    results = outcomes(clock, p, 500)
    tokens = [r.usage.completion_tokens for _, r in results]
    assert statistics.mean(tokens) == pytest.approx(120, rel=0.05)
    _, r = results[0]
    assert r.finish_reason == "stop" and r.model == "m" and r.id.startswith("sim-acme-")
    assert len(r.content) == 4 * r.usage.completion_tokens
    assert r.usage.prompt_tokens == len(HELLO[0]["content"]) // 4 + 3
    assert r.ratelimit is None  # an upstream without limits sends no headers


def test_max_tokens_caps_the_answer_and_shortens_it():
    clock = VirtualClock()
    capped = outcomes(clock, sim(clock, output_tokens_mean=400), 200, req(max_tokens=10))
    free = outcomes(clock, sim(clock, output_tokens_mean=400), 200)
    assert all(r.usage.completion_tokens == 10 and r.finish_reason == "length" for _, r in capped)
    assert statistics.median(t for t, _ in capped) < statistics.median(t for t, _ in free) / 2


def test_json_response_format_gets_json_content():
    clock = VirtualClock()
    results = outcomes(clock, sim(clock), 3, req(response_format={"type": "json_object"}))
    for _, r in results:
        assert "answer" in json.loads(r.content)


def test_per_model_profiles_replace_the_providers():
    clock = VirtualClock()
    p = sim(
        clock,
        latency_p50_ms=100,
        latency_p95_ms=100,
        models={"big": SimProfile(latency_p50_ms=2000, latency_p95_ms=2000)},
    )

    async def main():
        return (await timed(clock, p, req(), "small"))[0], (await timed(clock, p, req(), "big"))[0]

    small, big = clock.run(main())
    assert (small, big) == (pytest.approx(0.1), pytest.approx(2.0))


# --------------------------------------------------------------------------- errors


def test_error_rates_and_statuses_follow_the_profile():
    clock = VirtualClock()
    p = sim(clock, errors={"server": 0.10, "overloaded": 0.05, "rate_limited": 0.05})
    results = outcomes(clock, p, 6000)
    errors = [e for _, e in results if isinstance(e, ProviderError)]
    share = {k: sum(e.kind is k for e in errors) / len(results) for k in ErrorKind}
    assert share[ErrorKind.server] == pytest.approx(0.10, abs=0.015)
    assert share[ErrorKind.overloaded] == pytest.approx(0.05, abs=0.01)
    assert share[ErrorKind.rate_limited] == pytest.approx(0.05, abs=0.01)
    by_kind = {e.kind: e for e in errors}
    assert by_kind[ErrorKind.server].status == 500
    assert by_kind[ErrorKind.overloaded].status == 529
    limited = by_kind[ErrorKind.rate_limited]
    assert limited.status == 429 and 0.5 <= limited.retry_after_s <= 2.0
    assert limited.ratelimit.retry_after_s == limited.retry_after_s


def test_a_timeout_takes_the_read_timeout_then_fails():
    clock = VirtualClock()
    p = sim(clock, errors={"timeout": 1.0}, timeouts=Timeouts(read=7.5))
    ((lat, err),) = outcomes(clock, p, 1)
    assert err.kind is ErrorKind.timeout and lat == pytest.approx(7.5)


def test_a_connect_failure_is_quick():
    clock = VirtualClock()
    ((lat, err),) = outcomes(clock, sim(clock, errors={"connect": 1.0}), 1)
    assert err.kind is ErrorKind.connect and err.status is None and lat < 0.05


def test_a_malformed_answer_fails_after_the_whole_body():
    clock = VirtualClock()
    p = sim(clock, errors={"malformed": 1.0}, latency_p50_ms=300, latency_p95_ms=300)
    ((lat, err),) = outcomes(clock, p, 1)
    assert err.kind is ErrorKind.malformed and lat == pytest.approx(0.3)


# --------------------------------------------------------------------------- upstream limits


def test_rpm_is_enforced_with_429_and_a_retry_after():
    clock = VirtualClock()
    p = sim(clock, rpm=3, latency_p50_ms=100, latency_p95_ms=100)

    async def main():
        seen = []
        for _ in range(3):
            _, r = await timed(clock, p, req())
            seen.append(r.ratelimit.remaining_requests)
            await asyncio.sleep(1.0)
        sent_at = clock.monotonic()
        _, err = await timed(clock, p, req())
        return seen, err, sent_at

    remaining, err, sent_at = clock.run(main())
    assert remaining == [2, 1, 0]
    assert err.kind is ErrorKind.rate_limited and err.status == 429
    # the first request went at t=0, so a slot frees at t=60
    assert sent_at == pytest.approx(3.3)
    assert err.retry_after_s == pytest.approx(60.0 - sent_at)
    assert err.ratelimit.remaining_requests == 0
    assert err.ratelimit.reset_requests_s == pytest.approx(err.retry_after_s)

    async def later():
        await asyncio.sleep(err.retry_after_s)
        return (await timed(clock, p, req()))[1]

    again = clock.run(later())
    assert not isinstance(again, ProviderError)
    assert again.ratelimit.remaining_requests == 0  # the slot that freed is taken again


def test_tpm_is_enforced_with_the_time_until_tokens_free_up():
    clock = VirtualClock()
    p = sim(clock, tpm=300, output_tokens_mean=100, latency_p50_ms=50, latency_p95_ms=50)
    results = outcomes(clock, p, 5)
    ok = [r for _, r in results if not isinstance(r, ProviderError)]
    refused = [r for _, r in results if isinstance(r, ProviderError)]
    assert ok and refused
    used = sum(r.usage.total_tokens for r in ok)
    assert used <= 300
    assert all(
        e.kind is ErrorKind.rate_limited and e.retry_after_s == pytest.approx(60.0) for e in refused
    )
    assert ok[-1].ratelimit.remaining_tokens == 300 - used


def test_an_outage_window_fails_every_call_with_its_kind():
    clock = VirtualClock()
    p = sim(
        clock,
        outages=[
            {"start_s": 10, "end_s": 20, "kind": "overloaded"},
            {"start_s": 30, "end_s": 45, "kind": "rate_limited"},
        ],
    )

    async def at(t: float):
        await asyncio.sleep(t - clock.monotonic())
        return (await timed(clock, p, req()))[1]

    async def main():
        return [await at(t) for t in (5.0, 10.0, 19.0, 25.0, 40.0)]

    before, start, end, after, limited = clock.run(main())
    assert not isinstance(before, ProviderError) and not isinstance(after, ProviderError)
    assert start.kind is ErrorKind.overloaded and end.kind is ErrorKind.overloaded
    assert limited.kind is ErrorKind.rate_limited
    assert limited.retry_after_s == pytest.approx(5.0)  # until the window ends


# --------------------------------------------------------------------------- streaming


def collect(clock: VirtualClock, p: SimProvider, request: ChatRequest):
    """[(time since start, chunk)], and the error that ended the stream (or None)."""

    async def main():
        t0, got = clock.monotonic(), []
        try:
            async for chunk in p.stream(request, "m"):
                got.append((clock.monotonic() - t0, chunk))
        except ProviderError as e:
            return got, e
        return got, None

    return clock.run(main())


def test_a_stream_starts_after_ttft_paces_tokens_and_ends_with_usage():
    clock = VirtualClock()
    p = sim(
        clock,
        rpm=100,
        ttft_ms=200,
        tokens_per_s=80,
        latency_p50_ms=400,
        latency_p95_ms=400,
        output_tokens_mean=120,
    )
    chunks, err = collect(clock, p, req(stream=True))
    assert err is None
    first_at, first = chunks[0]
    assert first_at == pytest.approx(0.2)
    assert first.ratelimit.remaining_requests == 99
    assert all(c.ratelimit is None for _, c in chunks[1:])
    *body, (end_at, last) = chunks
    assert last.finish_reason == "stop" and last.content is None
    n = last.usage.completion_tokens
    assert len("".join(c.content for _, c in body)) == 4 * n
    assert end_at == pytest.approx(0.2 + (n - 4) / 80)  # chunks of ~50 ms of tokens
    assert len(body) == math.ceil(n / 4)


def test_a_malformed_stream_breaks_after_its_first_chunk():
    clock = VirtualClock()
    chunks, err = collect(clock, sim(clock, errors={"malformed": 1.0}), req(stream=True))
    assert chunks and err.kind is ErrorKind.malformed
    assert all(c.finish_reason is None for _, c in chunks)


def test_a_failing_stream_fails_before_any_chunk():
    clock = VirtualClock()
    chunks, err = collect(clock, sim(clock, errors={"server": 1.0}), req(stream=True))
    assert chunks == [] and err.kind is ErrorKind.server


# --------------------------------------------------------------------------- capabilities


@pytest.mark.parametrize(
    ("request_kw", "message"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools are not supported"),
        ({"response_format": {"type": "json_object"}}, "response_format is not supported"),
        ({"messages": [IMAGE_MESSAGE]}, "image input is not supported"),
    ],
)
def test_an_unsupported_capability_is_a_bad_request(request_kw, message):
    clock = VirtualClock()
    p = sim(clock, supports=["streaming"])
    ((_, err),) = outcomes(clock, p, 1, req(**request_kw))
    assert err.kind is ErrorKind.bad_request and err.status == 400 and err.message == message


def test_streaming_from_an_upstream_that_cannot_is_a_bad_request():
    clock = VirtualClock()
    p = sim(clock, supports=["tools"])
    chunks, err = collect(clock, p, req(stream=True))
    assert chunks == [] and err.kind is ErrorKind.bad_request and err.status == 400
    ((_, ok),) = outcomes(clock, p, 1, req(tools=[{"type": "function"}]))
    assert not isinstance(ok, ProviderError)
