"""A long-running agent on the engine and the sim provider, in virtual time: hours of calls
with checkpoints, its limits (budget, runtime, steps) stopping it cleanly, complexity hints
routing its calls, and what the store holds of it."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from axtui.agents import Agent, AgentError, AgentStopped, Limits
from axtui.clock import VirtualClock
from axtui.engine.engine import Engine
from axtui.providers.base import ChatRequest
from axtui.records import RequestRecord
from axtui.store import agents as rows
from axtui.store.agents import AgentCheckpointRow
from tests.agents.conftest import make_config

HOUR = 3600.0


def ask(text: str = "summarise the next document", route: str = "cheap") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], model=route, max_tokens=50)


def engine_on(clock: VirtualClock, **extra) -> tuple[Engine, list[RequestRecord]]:
    engine = Engine(make_config(**extra), clock=clock, seed=3)
    records: list[RequestRecord] = []
    engine.on_record(records.append)
    return engine, records


def checkpoints(store, agent_id: str) -> list:
    with store.connect() as conn:
        return conn.execute(select(AgentCheckpointRow.__table__)
                            .where(AgentCheckpointRow.agent_id == agent_id)
                            .order_by(AgentCheckpointRow.seq)).all()


def view(store, agent_id: str) -> rows.AgentView:
    with store.connect() as conn:
        v = rows.read_agent(conn, agent_id, now_wall=time.time())
    assert v is not None
    return v


def test_a_multi_hour_agent_checkpoints_its_progress_and_stops_at_its_runtime_limit(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def work():
        async with Agent(engine, store, "digest", limits=Limits(runtime_s=5 * HOUR),
                         checkpoint_every_s=600, state={"done": 0},
                         keep_checkpoints=100) as agent:
            while True:
                await agent.complete(ask())
                agent.state["done"] += 1
                await agent.sleep(60)  # one document a minute
        return agent

    t0 = clock.monotonic()
    agent = clock.run(work())
    assert agent.status == "stopped" and agent.stop_reason == "runtime"
    assert 5 * HOUR <= clock.monotonic() - t0 < 5 * HOUR + 120
    assert agent.steps == len(records) == agent.state["done"] > 250  # ~one a minute for 5 h
    assert agent.cost_nano == sum(r.cost_nano for r in records) > 0
    cps = checkpoints(store, "digest")
    # one at start, one every 10 minutes of 5 hours, and the final one
    assert 30 <= len(cps) <= 32
    assert all(b.at - a.at >= 600 for a, b in zip(cps[1:-2], cps[2:-1], strict=True))
    last = cps[-1]
    assert last.final and last.step == agent.steps and last.cost_nano == agent.cost_nano
    assert '"done"' in last.state
    v = view(store, "digest")
    assert (v.status, v.stop_reason, v.steps, v.cost_nano) == ("stopped", "runtime",
                                                               agent.steps, agent.cost_nano)
    assert v.runtime_s >= 5 * HOUR and v.deployment == "s/small-model"


def test_budget_exhaustion_stops_before_the_next_call_with_a_final_checkpoint(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)
    budget = 200_000  # nano-dollars: a few dozen cheap calls

    async def work():
        agent = Agent(engine, store, "spender", limits=Limits(budget_nano=budget))
        async with agent:
            while True:
                await agent.complete(ask())
        return agent

    agent = clock.run(work())
    assert agent.stop_reason == "budget"
    spent = sum(r.cost_nano for r in records)
    assert agent.cost_nano == spent
    # it stopped at the first call boundary where the budget could not pay another prompt
    last_call = records[-1].cost_nano
    assert spent - last_call < budget
    assert agent.budget_left_nano == budget - spent
    v = view(store, "spender")
    assert (v.status, v.stop_reason, v.cost_nano, v.budget_left_nano) == (
        "stopped", "budget", spent, budget - spent)
    assert checkpoints(store, "spender")[-1].final
    assert len(records) == agent.steps  # no call started past the limit


def test_a_budget_too_small_for_the_next_prompt_stops_without_spending_it(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)
    prompt = "x" * 40_000  # ~10k tokens: 300,000+ nano on the smart route alone

    async def work():
        async with Agent(engine, store, "frugal", limits=Limits(budget_nano=100_000)) as a:
            await a.complete(ask(prompt, route="smart"))
        return a

    agent = clock.run(work())
    assert records == [] and agent.cost_nano == 0
    assert agent.stop_reason == "budget"
    assert "the next call costs at least" in view(store, "frugal").stop_detail


def test_the_step_limit_stops_after_that_many_calls(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def work():
        async with Agent(engine, store, "ten", limits=Limits(steps=10)) as a:
            for _ in range(100):
                await a.complete(ask())
        return a

    agent = clock.run(work())
    assert (agent.stop_reason, agent.steps, len(records)) == ("steps", 10, 10)


def test_a_sleep_past_the_runtime_limit_is_cut_at_the_limit(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)

    async def work():
        async with Agent(engine, store, "watcher", limits=Limits(runtime_s=HOUR)) as a:
            await a.sleep(10 * HOUR)
        return a

    t0 = clock.monotonic()
    agent = clock.run(work())
    assert agent.stop_reason == "runtime"
    assert clock.monotonic() - t0 == pytest.approx(HOUR)


def test_a_complexity_hint_picks_the_agents_route_and_reaches_the_record(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def work():
        async with Agent(engine, store, "mixed", routes={"high": "smart", "low": "cheap"}) as a:
            await a.complete(ask(route="cheap"), complexity="high")
            await a.complete(ask(route="smart"), complexity="low")
            await a.complete(ask(route="cheap"))  # no hint: the request's own route

    clock.run(work())
    assert [(r.route, r.complexity) for r in records] == [
        ("smart", "complex"), ("cheap", "simple"), ("cheap", "simple")]
    assert all("agent:mixed" in r.tags for r in records)
    assert [r.id for r in records] == ["mixed.r1.1", "mixed.r1.2", "mixed.r1.3"]


def test_a_complexity_hint_is_what_the_engines_routing_rules_match(store):
    clock = VirtualClock()
    engine, records = engine_on(clock, rules=[
        {"match": {"route": "cheap", "complexity": "complex"}, "route": "smart"}])

    async def work():
        async with Agent(engine, store, "ruled") as a:
            await a.complete(ask(), complexity="high")
            await a.complete(ask(), complexity="medium")

    clock.run(work())
    assert [r.route for r in records] == ["smart", "cheap"]
    assert records[0].reason.startswith("rule 0")


def test_an_unknown_complexity_hint_is_refused_naming_the_accepted_ones(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def work():
        async with Agent(engine, store, "typo") as a:
            await a.complete(ask(), complexity="hard")

    with pytest.raises(ValueError, match="'hard'.*low, simple, medium, high, complex"):
        clock.run(work())
    assert records == []
    v = view(store, "typo")
    assert (v.status, v.stop_reason) == ("stopped", "error")
    assert "ValueError" in v.stop_detail


def test_a_route_map_to_an_unknown_route_is_refused_at_construction(store):
    engine, _ = engine_on(VirtualClock())
    with pytest.raises(AgentError, match="unknown route 'nope'; routes: cheap, smart"):
        Agent(engine, store, "x", routes={"high": "nope"})


def test_state_that_is_not_json_is_refused_before_anything_is_written(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)
    with pytest.raises(AgentError, match="not JSON-serializable"):
        clock.run(Agent(engine, store, "bad", state={"when": object()}).start())
    with store.connect() as conn:
        assert rows.agent_row(conn, "bad") is None


def test_a_finished_agent_is_not_started_again(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)

    async def once():
        async with Agent(engine, store, "once") as a:
            await a.complete(ask())

    clock.run(once())
    assert view(store, "once").status == "finished"
    with pytest.raises(AgentError, match="'once' finished"):
        clock.run(once())


def test_an_agent_running_in_a_live_process_is_not_resumed_twice(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)

    async def both():
        async with Agent(engine, store, "twin"):
            await Agent(engine, store, "twin").start()

    with pytest.raises(AgentError, match=r"'twin' is running \(pid"):
        clock.run(both())


def test_a_stopped_agent_resumes_from_its_final_checkpoint_with_new_limits(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def work(limits):
        async with Agent(engine, store, "again", limits=limits, state={"n": 0}) as a:
            for _ in range(1000):
                await a.complete(ask())
                a.state["n"] += 1
        return a

    first = clock.run(work(Limits(steps=5)))
    second = clock.run(work(Limits(steps=8)))
    assert (first.stop_reason, second.stop_reason) == ("steps", "steps")
    assert second.resumed is not None and second.resumed.step == 5
    assert second.resumed.previous_status == "stopped"
    assert (second.run, second.steps, second.state["n"]) == (2, 8, 8)
    assert second.cost_nano == sum(r.cost_nano for r in records)
    assert [r.id for r in records][4:6] == ["again.r1.5", "again.r2.6"]


def test_an_operators_stop_request_stops_the_agent_at_its_next_checkpoint(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)

    async def work():
        async with Agent(engine, store, "halt", checkpoint_every_s=300) as a:
            for i in range(1000):
                if i == 3:
                    with store.begin() as conn:
                        assert rows.request_stop(conn, "halt", "maintenance window")
                await a.complete(ask())
                await a.sleep(60)
        return a

    agent = clock.run(work())
    assert (agent.stop_reason, agent.stop_detail) == ("requested", "maintenance window")
    assert agent.steps < 10  # within one checkpoint interval (5 calls a checkpoint)


def test_an_error_in_the_agents_own_code_stops_it_with_the_error_as_reason(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)

    async def work():
        async with Agent(engine, store, "oops") as a:
            await a.complete(ask())
            raise KeyError("missing document")

    with pytest.raises(KeyError):
        clock.run(work())
    v = view(store, "oops")
    assert (v.status, v.stop_reason, v.steps) == ("stopped", "error", 1)
    assert v.stop_detail == "KeyError: 'missing document'"


def test_a_call_after_the_agent_stopped_raises_agent_stopped(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def work():
        a = Agent(engine, store, "late", limits=Limits(steps=1))
        await a.start()
        await a.complete(ask())
        with pytest.raises(AgentStopped, match="steps"):
            await a.complete(ask())
        with pytest.raises(AgentStopped, match="steps"):
            await a.complete(ask())
        return a

    assert clock.run(work()).status == "stopped" and len(records) == 1


def test_usd_limits_convert_exactly_and_refuse_floats():
    assert Limits.of(budget_usd="0.000000001").budget_nano == 1
    assert Limits.of(budget_usd="12.5").budget_nano == 12_500_000_000
    with pytest.raises(ValueError, match="not a float"):
        Limits.of(budget_usd=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 9 decimals"):
        Limits.of(budget_usd="0.0000000001")


def test_concurrent_calls_are_each_counted_and_the_step_limit_holds_across_them(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def worker(a: Agent) -> int:
        made = 0
        try:
            while True:
                await a.complete(ask())
                made += 1
        except AgentStopped:
            return made

    async def work():
        async with Agent(engine, store, "fanout", limits=Limits(steps=12),
                         checkpoint_every_s=5) as a:
            made = await asyncio.gather(*(worker(a) for _ in range(4)))
        return a, made

    agent, made = clock.run(work())
    assert sum(made) == agent.steps == len(records) == 12
    assert agent.cost_nano == sum(r.cost_nano for r in records)
    assert sorted(r.id for r in records) == sorted(f"fanout.r1.{i}" for i in range(1, 13))
    last = checkpoints(store, "fanout")[-1]
    assert last.final and (last.step, last.issued, last.pending) == (12, 12, "[]")


def test_a_stop_waits_for_the_calls_in_flight_and_counts_them_in_the_final_checkpoint(store):
    clock = VirtualClock()
    engine, records = engine_on(clock)

    async def work():
        a = Agent(engine, store, "drain")
        await a.start()
        calls = [asyncio.create_task(a.complete(ask())) for _ in range(3)]
        await asyncio.sleep(0)  # the calls are in flight
        await a.stop("requested", "by the test")
        with pytest.raises(AgentStopped):
            await a.complete(ask())
        return a, calls

    agent, calls = clock.run(work())
    assert all(c.done() and not c.exception() for c in calls)
    assert agent.steps == len(records) == 3
    last = checkpoints(store, "drain")[-1]
    assert last.final and last.step == 3 and last.cost_nano == sum(r.cost_nano for r in records)


def test_a_checkpoint_counts_the_calls_handed_out_except_those_still_in_flight():
    cp = rows.Checkpoint(agent_id="a", run=1, at=0.0, step=6, failed_steps=0, cost_nano=0,
                         runtime_s=0.0, progress=None, deployment=None, by_deployment={},
                         state={}, issued=7, pending=(6,))
    assert [s for s in range(1, 10) if not cp.counted(s)] == [6, 8, 9]


def test_the_heartbeat_keeps_a_running_agents_row_fresh_in_wall_time(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)

    async def work():
        async with Agent(engine, store, "beating", heartbeat_s=0.05) as a:
            with store.connect() as conn:
                first = rows.agent_row(conn, "beating").heartbeat_at
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the signal: the row's heartbeat moves on
                with store.connect() as conn:
                    now = rows.agent_row(conn, "beating").heartbeat_at
                if now > first:
                    return a, first, now
                await asyncio.to_thread(time.sleep, 0.01)
            raise AssertionError("the heartbeat never moved")

    _, first, later = clock.run(work())
    assert first < later <= time.time()
    assert view(store, "beating").status == "finished"


def test_request_stop_ends_a_sleep_at_once_and_stops_the_agent_cleanly(store):
    clock = VirtualClock()
    engine, _ = engine_on(clock)

    async def work():
        async with Agent(engine, store, "sigterm") as a:
            await a.complete(ask())
            asyncio.get_running_loop().call_later(30, a.request_stop, "SIGTERM")
            await a.sleep(6 * HOUR)
        return a

    t0 = clock.monotonic()
    agent = clock.run(work())
    assert (agent.stop_reason, agent.stop_detail) == ("requested", "SIGTERM")
    assert clock.monotonic() - t0 < 60
    assert view(store, "sigterm").status == "stopped"
