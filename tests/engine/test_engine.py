"""The engine's routing, failover and recording, on a virtual clock with scripted providers."""

from __future__ import annotations

import asyncio

import pytest

from axtui.clock import VirtualClock
from axtui.engine.engine import Engine, RequestContext, RoutingError
from axtui.providers.base import ChatRequest
from axtui.records import ErrorKind, Outcome

from .conftest import BASE, make_config
from .drains import apply_drains
from .scripted import Fail, Ok, ScriptedProvider

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def setup(cfg=None, **provider_defaults):
    clock = VirtualClock()
    cfg = cfg or make_config()
    providers = {n: ScriptedProvider(n, clock, provider_defaults.get(n)) for n in cfg.providers}
    engine = Engine(cfg, clock=clock, providers=providers, seed=1)
    records = []
    engine.on_record(records.append)
    return clock, engine, providers, records


def ask(text="hi", model="chat", **kw) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], model=model, **kw)


def test_cost_strategy_sends_to_the_cheapest_capable_deployment():
    clock, engine, providers, records = setup()
    result = clock.run(engine.complete(ask()))
    assert result.record.deployment == "a/cheap"
    assert result.response.content == "hello"
    assert [r.id for r in records] == [result.record.id]


def test_a_request_needing_tools_skips_deployments_without_them():
    clock, engine, providers, records = setup()
    result = clock.run(engine.complete(ask(tools=TOOLS)))
    assert result.record.deployment == "b/mid"
    assert result.record.required_caps == ["tools"]


def test_prompt_too_long_for_a_window_skips_that_deployment():
    clock, engine, providers, records = setup()
    result = clock.run(engine.complete(ask("word " * 40_000)))  # ~50k tokens
    assert result.record.deployment == "b/mid"


def test_server_error_fails_over_at_once_to_the_next_deployment():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Fail(ErrorKind.server, 500))
    t0 = clock.monotonic()
    result = clock.run(engine.complete(ask()))
    rec = result.record
    assert rec.deployment == "b/mid"
    assert [a.deployment for a in rec.attempts] == ["a/cheap", "b/mid"]
    assert rec.attempts[0].error_kind is ErrorKind.server
    assert rec.attempts[0].backoff_ms == 0
    # no backoff: the 50 ms failure plus the 100 ms answer
    assert clock.monotonic() - t0 == pytest.approx(0.15, abs=1e-6)
    assert "failover" in rec.reason


def test_bad_request_gives_up_without_trying_elsewhere():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Fail(ErrorKind.bad_request, 400))
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    assert err.value.status == 400
    assert len(err.value.record.attempts) == 1
    assert providers["b"].calls == []
    assert records == [err.value.record]


def test_when_every_attempt_fails_the_error_lists_each_one():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Fail(ErrorKind.server, 500))
    providers["b"].then("mid", Fail(ErrorKind.timeout, None))
    providers["c"].then("dear", Fail(ErrorKind.overloaded, 503))
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    rec = err.value.record
    assert rec.outcome is Outcome.failed
    assert err.value.status == 503
    for d in ("a/cheap: server 500", "b/mid: timeout", "c/dear: overloaded 503"):
        assert d in rec.error
    assert len(records) == 1


def test_rate_limited_last_deployment_waits_retry_after_then_retries():
    cfg = make_config(routes={"chat": {"candidates": ["a/cheap"], "max_attempts": 2}})
    clock, engine, providers, records = setup(cfg)
    providers["a"].then("cheap", Fail(ErrorKind.rate_limited, 429, retry_after_s=2.0))
    t0 = clock.monotonic()
    result = clock.run(engine.complete(ask()))
    assert result.record.outcome is Outcome.ok
    assert result.record.attempts[0].backoff_ms == pytest.approx(2000)
    assert clock.monotonic() - t0 == pytest.approx(2.15, abs=1e-6)


def test_retry_after_beyond_a_minute_is_not_waited_for():
    cfg = make_config(routes={"chat": {"candidates": ["a/cheap"], "max_attempts": 3}})
    clock, engine, providers, records = setup(cfg)
    providers["a"].then("cheap", Fail(ErrorKind.rate_limited, 429, retry_after_s=120.0))
    t0 = clock.monotonic()
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    assert err.value.status == 429
    assert err.value.kind is ErrorKind.rate_limited
    assert err.value.retry_after_s == 120.0
    assert clock.monotonic() - t0 < 1.0  # never slept after the last attempt


def test_the_deadline_bounds_a_slow_upstream():
    cfg = make_config(routes={"chat": {"candidates": ["a/cheap"], "deadline_s": 2}})
    clock, engine, providers, records = setup(cfg)
    providers["a"].then("cheap", Ok(latency_s=10))
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    assert err.value.kind is ErrorKind.timeout
    assert err.value.status == 504
    assert err.value.record.latency_ms == pytest.approx(2000, abs=1)


def test_context_length_error_moves_to_the_context_fallback_route():
    routes = {
        "chat": {"candidates": ["a/cheap"], "context_fallback": "long"},
        "long": {"candidates": ["c/dear"]},
    }
    clock, engine, providers, records = setup(make_config(routes=routes))
    providers["a"].then("cheap", Fail(ErrorKind.context_length, 400))
    result = clock.run(engine.complete(ask()))
    assert result.record.deployment == "c/dear"
    assert result.record.route == "long"
    assert result.record.requested_route == "chat"
    assert "chat → long" in result.record.reason


def test_fallback_route_serves_when_the_route_is_exhausted():
    routes = {
        "chat": {"candidates": ["a/cheap"], "fallbacks": ["backup"], "max_attempts": 1},
        "backup": {"candidates": ["b/mid"]},
    }
    clock, engine, providers, records = setup(make_config(routes=routes))
    providers["a"].then("cheap", Fail(ErrorKind.server, 500))
    result = clock.run(engine.complete(ask()))
    assert result.record.deployment == "b/mid"
    assert len(result.record.attempts) == 2


def test_breaker_opens_after_consecutive_failures_and_the_deployment_is_skipped():
    cfg = make_config(breaker={"consecutive_failures": 3, "min_calls": 100, "open_s": 30})
    clock, engine, providers, records = setup(cfg, a=Fail(ErrorKind.server, 500))
    for _ in range(3):
        clock.run(engine.complete(ask()))
    calls_before = len(providers["a"].calls)
    result = clock.run(engine.complete(ask()))
    assert len(providers["a"].calls) == calls_before  # not even tried
    assert [a.deployment for a in result.record.attempts] == ["b/mid"]


def test_a_drained_deployment_takes_no_traffic():
    clock, engine, providers, records = setup()
    apply_drains(engine, {"a/cheap": "bad output"})
    result = clock.run(engine.complete(ask()))
    assert result.record.deployment == "b/mid"
    assert providers["a"].calls == []


def test_no_usable_deployment_is_refused_with_the_reasons():
    clock, engine, providers, records = setup()
    apply_drains(engine, {d: "maintenance" for d in ("a/cheap", "b/mid", "c/dear")})
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    assert err.value.kind is ErrorKind.no_candidates
    assert err.value.status == 503
    assert "drained: maintenance" in err.value.record.error


def test_unknown_route_is_a_404_naming_the_routes():
    clock, engine, providers, records = setup()
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask(model="nope")))
    assert err.value.status == 404
    assert "'nope'" in err.value.record.error and "chat" in err.value.record.error
    assert err.value.record.outcome is Outcome.rejected


def test_caller_rpm_quota_refuses_with_retry_after():
    cfg = make_config(quotas={"per_user": {"rpm": 2}})
    clock, engine, providers, records = setup(cfg)
    ctx = RequestContext(user="alice")
    clock.run(engine.complete(ask(), ctx))
    clock.run(engine.complete(ask(), ctx))
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask(), ctx))
    assert err.value.kind is ErrorKind.quota
    assert err.value.status == 429
    assert err.value.retry_after_s and 0 < err.value.retry_after_s <= 60
    clock.run(engine.complete(ask(), RequestContext(user="bob")))  # others unaffected


def test_budget_refuses_once_spent_and_records_threshold_events():
    # each answer costs 100*0.10 + 20*0.40 = 18 micro-dollars = 18,000 nano
    cfg = make_config(budgets=[{"scope": "global", "limit_usd": "0.00005"}])
    clock, engine, providers, records = setup(cfg)
    events = []
    engine.on_event(lambda kind, subject, detail: events.append((kind, detail.get("threshold"))))
    for _ in range(3):
        clock.run(engine.complete(ask()))
    with pytest.raises(RoutingError) as err:
        clock.run(engine.complete(ask()))
    assert err.value.kind is ErrorKind.budget
    assert "global" in err.value.record.error
    assert [t for k, t in events if k == "budget_threshold"] == [50, 80, 100]


def test_cost_is_exact_and_compared_with_the_cheapest_capable_deployment():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Fail(ErrorKind.server, 500))
    rec = clock.run(engine.complete(ask())).record
    # served by mid: 100 * $1/M + 20 * $4/M = $0.00018 = 180,000 nano; cheap would be 18,000
    assert rec.cost_nano == 180_000
    assert rec.optimal_cost_nano == 18_000


def test_rules_route_by_tag():
    routes = {**BASE["routes"], "batch": {"candidates": ["c/dear"]}}
    cfg = make_config(routes=routes, rules=[{"match": {"tag": "batch"}, "route": "batch"}])
    clock, engine, providers, records = setup(cfg)
    rec = clock.run(engine.complete(ask(), RequestContext(tags=["batch"]))).record
    assert rec.route == "batch" and rec.requested_route == "chat"
    assert rec.reason.startswith("rule 0")


async def _drain(stream):
    return [c async for c in stream]


def test_stream_fails_over_before_the_first_chunk():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Fail(ErrorKind.overloaded, 503))
    s = engine.stream(ask(stream=True))

    async def go():
        await s.start()
        return await _drain(s)

    chunks = clock.run(go())
    assert s.deployment == "b/mid"
    assert "".join(c.content or "" for c in chunks).startswith("hello0")
    assert s.record.outcome is Outcome.ok
    assert s.record.usage.completion_tokens == 20
    assert s.record.ttft_ms is not None
    assert len(records) == 1


def test_stream_failure_after_the_first_chunk_ends_it_as_interrupted():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Fail(ErrorKind.server, 500, after_chunks=2))
    s = engine.stream(ask(stream=True))
    got = []

    async def go():
        async for c in s:
            got.append(c)

    with pytest.raises(RoutingError) as err:
        clock.run(go())
    assert len(got) == 2
    assert err.value.record.outcome is Outcome.interrupted
    assert providers["b"].calls == []  # no failover once the caller has chunks
    assert records == [err.value.record]


def test_a_caller_leaving_mid_stream_is_recorded_as_cancelled():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Ok(chunks=50))
    s = engine.stream(ask(stream=True))

    async def go():
        async for _ in s:
            break
        await s.aclose()

    clock.run(go())
    assert s.record.outcome is Outcome.cancelled
    assert len(records) == 1
    assert engine.in_flight == 0


def test_cancelling_a_request_records_it_once_as_cancelled():
    clock, engine, providers, records = setup()
    providers["a"].then("cheap", Ok(latency_s=5))

    async def go():
        task = asyncio.ensure_future(engine.complete(ask()))
        await clock.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    clock.run(go())
    assert [r.outcome for r in records] == [Outcome.cancelled]
    assert engine.in_flight == 0
    # the call in flight when the caller left is in the record, as cancelled
    (a,) = records[0].attempts
    assert (a.deployment, a.error_kind) == ("a/cheap", ErrorKind.cancelled)
    assert a.latency_ms == pytest.approx(1000)
    # and it is no failure of the deployment's
    assert engine.deployments["a/cheap"].health.consecutive_failures == 0
    assert engine.deployments["a/cheap"].breaker.state == "closed"


def test_rules_match_by_user_prefix_and_header():
    routes = {**BASE["routes"], "vip": {"candidates": ["c/dear"]}}
    rules = [{"match": {"user": "team-*", "header": {"X-Tier": "gold"}}, "route": "vip"}]
    clock, engine, providers, records = setup(make_config(routes=routes, rules=rules))
    gold = RequestContext(user="team-a", headers={"x-tier": "gold"})
    assert clock.run(engine.complete(ask(), gold)).record.route == "vip"
    other_user = RequestContext(user="solo", headers={"x-tier": "gold"})
    assert clock.run(engine.complete(ask(), other_user)).record.route == "chat"
    no_header = RequestContext(user="team-a")
    assert clock.run(engine.complete(ask(), no_header)).record.route == "chat"


def test_a_stream_start_follows_the_same_retry_policy_as_a_plain_call():
    cfg = make_config(routes={"chat": {"candidates": ["a/cheap"], "max_attempts": 2}})
    clock, engine, providers, records = setup(cfg)
    providers["a"].then("cheap", Fail(ErrorKind.rate_limited, 429, retry_after_s=2.0))
    s = engine.stream(ask(stream=True))
    t0 = clock.monotonic()

    async def go():
        await s.start()
        return await _drain(s)

    clock.run(go())
    assert s.record.outcome is Outcome.ok
    assert [a.error_kind for a in s.record.attempts] == [ErrorKind.rate_limited, None]
    assert s.record.attempts[0].backoff_ms == pytest.approx(2000)
    assert clock.monotonic() - t0 >= 2.0
