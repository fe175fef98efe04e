"""Counterfactual replay: the recorded requests through the real engine with another
config, flags and drains, against providers fitted from the trace; side by side with what
was recorded."""

from __future__ import annotations

import gzip

import orjson
import pytest
from sqlalchemy import func, select

from axtui.config import load_config
from axtui.records import ErrorKind
from axtui.store.db import open_store
from axtui.store.tables import RequestRow
from axtui.traces.replay.counterfactual import ReplayInputError
from axtui.traces.replay.fit import Fitter
from axtui.traces.replay.run import ReplayOptions, replay, story
from tests.store.factory import T0, attempt, record
from tests.traces.replay_helpers import cut, write

GPT = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """The first ~12 minutes of the provider-outage trace: the outage begins at minute 10."""
    return str(cut("provider-outage", 1400, tmp_path_factory.mktemp("t") / "o.jsonl.gz"))


def cf(trace, **kw):
    return replay(ReplayOptions(trace=trace, config=load_config(), mode="counterfactual", **kw))


def test_every_recorded_request_is_sent_again_and_compared(trace):
    out = cf(trace)
    rec, new = out["recorded"]["summary"], out["counterfactual"]["summary"]
    assert new["requests"] == rec["requests"] == out["trace"]["records"]
    assert out["engine_errors"] == 0
    assert out["difference"]["cost_nano"] == new["cost_nano"] - rec["cost_nano"]
    assert out["difference"]["line"].startswith("p95 ")


def test_the_fitted_outage_makes_the_counterfactual_breaker_trip_in_the_same_minute(trace):
    out = cf(trace)
    trips = [m for m in out["counterfactual"]["timeline"]
             if m["kind"] == "breaker" and m["subject"] == GPT and m["to"] == "open"]
    assert trips and 600 <= trips[0]["at_s"] < 660


def test_a_drained_deployment_serves_nothing(trace):
    out = cf(trace, drains=[GPT])
    assert out["recorded"]["summary"]["split"][GPT] > 0.3
    assert GPT not in out["counterfactual"]["summary"]["split"]
    assert out["changes"]["drains"] == [GPT]


def test_a_drained_run_starts_with_the_trace_in_every_run(trace, tmp_path):
    """The drain is applied before the first request with virtual time standing still (a
    drain written from a thread let the clock run on by however long the write took)."""
    lite = "gemini/gemini-2.0-flash-lite"
    url = f"sqlite:///{tmp_path}/cf.db"
    a, b = cf(trace, drains=[lite], store_url=url), cf(trace, drains=[lite])
    assert a == b
    with open_store(url) as store, store.connect() as conn:
        first = conn.execute(select(func.min(RequestRow.started_at))).scalar()
    with gzip.open(trace, "rb") as f:
        recorded = min(orjson.loads(line)["started_at"] for line in f.read().splitlines()[1:])
    assert first == pytest.approx(recorded, abs=1e-3)


def test_a_flag_set_to_100_percent_puts_every_request_it_gates_in_its_cohort(trace):
    out = cf(trace, flags={"flash_lite_chat": 100})
    recorded = out["recorded"]["summary"]["flags"]["flash_lite_chat"]
    assert recorded.get("off", 0) > recorded.get("on", 0)  # 5% in the recording
    variants = out["counterfactual"]["summary"]["flags"]["flash_lite_chat"]
    assert variants.get("off", 0) == 0 and sum(variants.values()) > 0


def test_a_deployment_the_trace_never_saw_runs_on_its_catalog_profile(tmp_path):
    recs = [record(started_at=T0 + i, attempts=[attempt(GPT, started_at=T0 + i)])
            for i in range(20)]
    out = cf(str(write(tmp_path / "t.jsonl", recs)))
    assert out["profiles"]["fitted"] == [GPT]
    assert "groq/llama-3.1-8b-instant" in out["profiles"]["catalog"]


def test_unknown_flags_and_deployments_are_refused_by_name(trace):
    with pytest.raises(ReplayInputError, match="unknown flag 'nope'"):
        cf(trace, flags={"nope": 10})
    with pytest.raises(ReplayInputError, match="unknown deployment 'x/y'"):
        cf(trace, drains=["x/y"])


def test_the_fitter_turns_a_failing_stretch_into_an_outage_window_and_keeps_base_rates():
    f = Fitter(T0)
    for i in range(600):  # ten minutes, one call a second; minutes 4-5 all fail
        failing = 240 <= i < 360
        kind = ErrorKind.server if failing else (ErrorKind.overloaded if i % 100 == 0 else None)
        f.add(record(started_at=T0 + i, attempts=[
            attempt(GPT, started_at=T0 + i, latency_ms=300.0 + (i % 10) * 10, error_kind=kind)]))
    [p] = f.profiles({}, seed=3).values()
    assert [(o.start_s, o.end_s, o.kind) for o in p.outages] == [(240.0, 360.0, "server")]
    assert p.errors == {"overloaded": pytest.approx(5 / 480, rel=1e-3)}
    assert 330 <= p.latency_p50_ms <= 360 and p.latency_p95_ms >= p.latency_p50_ms
    assert p.seed == 3


def test_the_difference_reads_as_one_line():
    d = {"p95_pct": 12.0, "cost_pct": -41.0, "alerts_fired": -2, "failed": 0,
         "breaker_trips": 1}
    assert story(d) == ("p95 +12%, cost \u221241%, 2 alerts fewer, same failed requests, "
                        "1 breaker trip more")


def test_a_scenario_outage_trips_that_deployment_in_the_counterfactual(trace, tmp_path):
    from axtui.traces.replay.counterfactual import load_scenario

    scenario = tmp_path / "incident.toml"
    scenario.write_text('[[outages]]\nprovider = "mistral"\nstart_s = 120\nend_s = 300\n'
                        'kind = "server"\n')
    out = cf(trace, scenario=load_scenario(scenario))
    trips = [m for m in out["counterfactual"]["timeline"] if m["kind"] == "breaker"
             and m["subject"] == "mistral/mistral-small-latest" and m["to"] == "open"]
    assert trips and 120 <= trips[0]["at_s"] < 180
    assert not any(m["subject"] == "mistral/mistral-small-latest"
                   for m in out["recorded"]["timeline"])


def test_a_scenario_naming_nothing_known_is_refused(trace, tmp_path):
    from axtui.traces.replay.counterfactual import load_scenario

    scenario = tmp_path / "incident.toml"
    scenario.write_text('[[outages]]\nprovider = "nobody"\nstart_s = 1\nend_s = 2\n')
    with pytest.raises(ReplayInputError, match="no such provider or deployment 'nobody'"):
        cf(trace, scenario=load_scenario(scenario))


def test_requests_without_user_or_key_bucket_alike_in_every_run(tmp_path):
    # no user and no key: a flag buckets each request by its id, the recorded one
    recs = [record(started_at=T0 + i, user=None, key_id=None, id=f"r{i}",
                   attempts=[attempt(GPT, started_at=T0 + i)]) for i in range(200)]
    trace = str(write(tmp_path / "anon.jsonl", recs))
    first, second = (cf(trace, flags={"flash_lite_chat": 50}) for _ in range(2))
    variants = first["counterfactual"]["summary"]["flags"]["flash_lite_chat"]
    assert variants.get("on", 0) > 0 and variants.get("off", 0) > 0
    assert first == second


def test_the_tape_gives_back_the_requests_the_records_themselves_would(tmp_path):
    from axtui.record_fields import parse
    from axtui.traces.replay.requests import Tape, request_of

    base = record(started_at=T0, attempts=[attempt(GPT, started_at=T0)])
    recs = [
        base.model_copy(update={"id": "a", "est_prompt_tokens": 900, "complexity": "complex"}),
        base.model_copy(update={"id": "b", "stream": True, "max_tokens": 64, "tags": ["batch"],
                                "required_caps": ["json", "tools", "vision"]}),
        base.model_copy(update={"id": "c", "user": None, "key_id": None,
                                "messages": [{"role": "user", "content": "captured"}]}),
    ]
    tape = Tape(tmp_path / "requests.jsonl")
    tape.add(recs[0])
    tape.add(parse(recs[1].model_dump_json())[0])  # a record read as its line's fields
    tape.add(recs[2])
    tape.close()
    assert [request_of(s) for s in tape] == [request_of(r) for r in recs]
