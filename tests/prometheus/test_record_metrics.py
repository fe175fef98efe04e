"""Request and attempt metrics as the recorder counts them, with either recorder."""

from __future__ import annotations

import os

from axtui.prometheus.records import RecordMetrics
from axtui.records import ErrorKind, Outcome
from axtui.store.db import open_store
from axtui.store.process_recorder import make_recorder
from tests.store.factory import attempt, record
from tests.store.test_process_recorder import varied_records

from .exposition import samples, value


def _recorded(tmp_path, process: bool, records) -> tuple[dict, list[str]]:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    metrics = tmp_path / "metrics"
    rec = make_recorder(store, process=process, flush_interval_s=0.05, metrics_dir=metrics)
    try:
        for r in records:
            assert rec.submit(r)
        assert rec.flush(30)
    finally:
        rec.close()
        store.close()
    return samples(metrics), sorted(p.name for p in metrics.glob("*.db"))


def test_both_recorders_count_the_same_metrics(tmp_path):
    records = varied_records(200)
    in_thread, thread_files = _recorded(tmp_path / "t", False, records)
    in_child, child_files = _recorded(tmp_path / "p", True, records)
    assert in_thread == in_child
    assert value(in_thread, "axtui_metrics_records_total") == 200
    # the thread counts in this process's files, the child in its own
    assert thread_files == [f"counter_{os.getpid()}.db", f"histogram_{os.getpid()}.db"]
    assert f"counter_{os.getpid()}.db" not in child_files


def test_requests_attempts_and_tokens_follow_the_records(tmp_path):
    records = [
        record(route="chat", attempts=[attempt("p/a", prompt_tokens=10, completion_tokens=3)]),
        record(route="chat", attempts=[attempt("p/a", error_kind=ErrorKind.rate_limited),
                                       attempt("p/b", prompt_tokens=7, completion_tokens=2)]),
        record(route="chat", attempts=[attempt("p/a", error_kind=ErrorKind.server)]),
    ]
    found, _ = _recorded(tmp_path, False, records)
    req = "axtui_requests_total"
    assert value(found, req, route="chat", deployment="p/a", region="", outcome="ok",
                 error_kind="") == 1
    assert value(found, req, route="chat", deployment="p/b", region="", outcome="ok",
                 error_kind="") == 1
    assert value(found, req, route="chat", deployment="", region="", outcome="failed",
                 error_kind="server") == 1
    att = "axtui_attempts_total"
    assert value(found, att, deployment="p/a", outcome="error", error_kind="rate_limited") == 1
    assert value(found, att, deployment="p/a", outcome="error", error_kind="server") == 1
    assert value(found, att, deployment="p/a", outcome="ok", error_kind="") == 1
    tok = "axtui_tokens_total"
    assert value(found, tok, route="chat", deployment="p/a", type="prompt") == 10
    assert value(found, tok, route="chat", deployment="p/b", type="completion") == 2


def test_cost_in_dollars_is_the_exact_sum_of_nano_dollars(tmp_path):
    """Ten 0.1-dollar attempts, in three batches, make exactly $1.00 (adding floats would
    make 0.9999999999999999)."""
    tenth = 100_000_000
    metrics = RecordMetrics(tmp_path)
    try:
        for batch in (3, 3, 4):
            metrics.observe([record(attempts=[attempt("p/a", cost_nano=tenth)])
                             for _ in range(batch)])
    finally:
        metrics.close()
    assert sum([0.1] * 10) != 1.0
    assert value(samples(tmp_path), "axtui_cost_usd_total", route="chat",
                 deployment="p/a") == 1.0


def test_a_record_that_cannot_be_counted_is_counted_as_an_error_not_raised(tmp_path):
    metrics = RecordMetrics(tmp_path)
    try:
        metrics.observe([{"route": "chat"}])  # no outcome, no attempts: not a record
        metrics.observe([record()])
    finally:
        metrics.close()
    found = samples(tmp_path)
    assert value(found, "axtui_metrics_observe_errors_total") == 1
    assert value(found, "axtui_metrics_records_total") == 1


def test_latencies_fill_cumulative_buckets_in_seconds(tmp_path):
    metrics = RecordMetrics(tmp_path)
    try:
        metrics.observe([record(attempts=[attempt("p/a", latency_ms=ms)])
                         for ms in (40.0, 50.0, 800.0, 200_000.0)])
    finally:
        metrics.close()
    found = samples(tmp_path)
    name = "axtui_request_duration_seconds"
    labels = {"route": "chat", "deployment": "p/a", "region": "", "outcome": "ok"}
    buckets = {le: value(found, f"{name}_bucket", le=le, **labels)
               for le in ("0.05", "0.75", "1.0", "120.0", "+Inf")}
    assert buckets == {"0.05": 2, "0.75": 2, "1.0": 3, "120.0": 3, "+Inf": 4}
    assert value(found, f"{name}_count", **labels) == 4
    assert value(found, f"{name}_sum", **labels) == (40 + 50 + 800 + 200_000) / 1000


def test_a_metrics_directory_that_cannot_be_made_costs_the_metrics_not_the_records(tmp_path):
    (tmp_path / "a-file").write_text("")
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    rec = make_recorder(store, process=False, metrics_dir=tmp_path / "a-file" / "metrics")
    try:
        assert rec.submit(record())
        assert rec.flush(10)
        assert rec.stats().written == 1
        assert rec.stats().last_error.startswith(f"metrics in {tmp_path}/a-file/metrics are off")
    finally:
        rec.close()
        store.close()


def test_a_route_outside_the_configured_ones_is_counted_as_unknown(tmp_path):
    """A key at its rate limit is refused before its `model` is looked up: the record's route
    is then the caller's free text, which must not become a series of its own."""
    metrics = RecordMetrics(tmp_path, routes=["chat"])
    try:
        metrics.observe([record(route=name, attempts=[], outcome=Outcome.rejected,
                                error_kind=ErrorKind.quota)
                         for name in ("chat", "made-up-1", "made-up-2")])
    finally:
        metrics.close()
    found = samples(tmp_path)
    labels = {"deployment": "", "region": "", "outcome": "rejected", "error_kind": "quota"}
    assert value(found, "axtui_requests_total", route="chat", **labels) == 1
    assert value(found, "axtui_requests_total", route="(unknown)", **labels) == 2


def _in(region: str | None, **kw):
    return record(**kw).model_copy(update={"region": region})


def test_requests_and_their_latency_carry_the_serving_deployments_region(tmp_path):
    """The region is the serving deployment's configured one (the record's), "" when it has
    none or nothing served: a config value, so the series stay as few as the regions."""
    records = [_in("eu", attempts=[attempt("p/eu", latency_ms=100.0)]),
               _in("eu", attempts=[attempt("p/eu", latency_ms=100.0)]),
               _in("us-east", attempts=[attempt("p/us", latency_ms=100.0)]),
               _in(None, attempts=[attempt("p/a", latency_ms=100.0)]),
               _in(None, attempts=[], outcome=Outcome.rejected, error_kind=ErrorKind.quota)]
    found, _ = _recorded(tmp_path, False, records)
    req, ok = "axtui_requests_total", {"route": "chat", "outcome": "ok", "error_kind": ""}
    assert value(found, req, deployment="p/eu", region="eu", **ok) == 2
    assert value(found, req, deployment="p/us", region="us-east", **ok) == 1
    assert value(found, req, deployment="p/a", region="", **ok) == 1
    assert value(found, req, route="chat", deployment="", region="", outcome="rejected",
                 error_kind="quota") == 1
    dur = "axtui_request_duration_seconds_count"
    assert value(found, dur, route="chat", deployment="p/eu", region="eu", outcome="ok") == 2
    assert value(found, dur, route="chat", deployment="p/us", region="us-east",
                 outcome="ok") == 1


def _routed(tmp_path, process: bool) -> dict:
    """A record on route "new" before and after the recorder learns it from a reload."""
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    metrics = tmp_path / "metrics"
    rec = make_recorder(store, process=process, flush_interval_s=0.05, metrics_dir=metrics,
                        metrics_routes=["chat"])
    try:
        assert rec.submit(record(route="new"))
        assert rec.flush(30)
        assert rec.add_metrics_routes(["chat", "new"])
        assert rec.submit(record(route="new"))
        assert rec.submit(record(route="chat"))
        assert rec.flush(30)
    finally:
        rec.close()
        store.close()
    return samples(metrics)


def test_a_route_a_reload_adds_gets_its_own_label_in_either_recorder(tmp_path):
    ok = {"deployment": "openai/gpt-4o-mini", "region": "", "outcome": "ok", "error_kind": ""}
    for process in (False, True):
        found = _routed(tmp_path / str(process), process)
        assert value(found, "axtui_requests_total", route="(unknown)", **ok) == 1, process
        assert value(found, "axtui_requests_total", route="new", **ok) == 1, process
        assert value(found, "axtui_requests_total", route="chat", **ok) == 1, process
