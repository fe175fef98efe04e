"""The cost of Prometheus metrics: counting records, publishing engine gauges, a scrape.

    python bench/bench_metrics.py [--n 100000] [--processes 4]

Prints, beside targets:
- µs per record to count a batch (RecordMetrics.observe): records as the recorder's thread
  sees them (model dicts) and as its child does (parsed JSON lines). In process mode this
  runs in the recorder's child: the serving process pays nothing per request.
- for reference, the µs per request of the usual way (prometheus-client's Counter and
  Histogram updated per request in the serving process, multiprocess mode);
- µs per publish of the engine gauges (on the event loop, once per `publish_s`);
- ms per scrape (merge every process's files, render) with `--processes` processes' files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

_DIR = tempfile.mkdtemp(prefix="axtui-bench-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(Path(_DIR) / "naive")  # before prometheus_client
(Path(_DIR) / "naive").mkdir()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402

from axtui.clock import RealClock  # noqa: E402
from axtui.config import load_config  # noqa: E402
from axtui.engine.engine import Engine  # noqa: E402
from axtui.gateway.metrics import MetricsExporter  # noqa: E402
from axtui.prometheus.engine import EngineGauges  # noqa: E402
from axtui.prometheus.records import BUCKETS_S, RecordMetrics  # noqa: E402
from axtui.store.ingest import record_json_bytes  # noqa: E402
from bench.bench_recorder import make_records  # noqa: E402

TARGET_OBSERVE_US = 5.0  # per record, off the serving path (recorder: ≥ 50,000 records/s)
TARGET_PUBLISH_US = 1000.0  # per publish, once a second on the event loop
TARGET_SCRAPE_MS = 50.0
BATCH = 2000  # the process recorder's handoff size


def observe_us(path: Path, batches: list[list[dict]]) -> float:
    metrics = RecordMetrics(path)
    try:
        metrics.observe(batches[0])  # series created once: not the steady state
        n = sum(len(b) for b in batches[1:])
        t0 = time.perf_counter()
        for b in batches[1:]:
            metrics.observe(b)
        return (time.perf_counter() - t0) / n * 1e6
    finally:
        metrics.close()


def naive_us(records: list) -> float:
    """The usual way: prometheus-client metrics updated per request (multiprocess mode)."""
    from prometheus_client import Counter, Histogram

    requests = Counter("naive_requests_total", "r", ["route", "deployment", "outcome"])
    cost = Counter("naive_cost_usd_total", "c", ["route", "deployment"])
    tokens = Counter("naive_tokens_total", "t", ["route", "deployment", "type"])
    latency = Histogram("naive_request_duration_seconds", "l", ["route", "deployment"],
                        buckets=BUCKETS_S)
    t0 = time.perf_counter()
    for r in records:
        dep = r.deployment or ""
        requests.labels(r.route, dep, r.outcome.value).inc()
        latency.labels(r.route, dep).observe(r.latency_ms / 1000)
        if r.cost_nano:
            cost.labels(r.route, dep).inc(r.cost_nano / 1e9)
        if r.usage is not None:
            tokens.labels(r.route, dep, "prompt").inc(r.usage.prompt_tokens)
            tokens.labels(r.route, dep, "completion").inc(r.usage.completion_tokens)
    return (time.perf_counter() - t0) / len(records) * 1e6


def publish_us(path: Path, rounds: int = 2000) -> tuple[float, int]:
    engine = Engine(load_config(None), clock=RealClock())  # the demo: every kind of provider
    gauges = EngineGauges(engine, path)
    firing = {("mistral_down", "critical"): 1}
    try:
        gauges.publish(firing)
        t0 = time.perf_counter()
        for _ in range(rounds):
            gauges.publish(firing)
        return (time.perf_counter() - t0) / rounds * 1e6, len(engine.deployments)
    finally:
        gauges.close()


def scrape_ms(path: Path, processes: int, rounds: int = 20) -> tuple[float, int]:
    """As if `processes` processes had counted the same series (their files copied)."""
    for f in list(path.glob(f"*_{os.getpid()}.db")):
        prefix = f.name.rsplit("_", 1)[0]
        for fake_pid in range(1, processes):
            shutil.copy(f, path / f"{prefix}_{os.getpid() + 100_000 + fake_pid}.db")
    exporter = MetricsExporter(path, None, 1.0)
    body = exporter.exposition()
    t0 = time.perf_counter()
    for _ in range(rounds):
        exporter.exposition()
    return (time.perf_counter() - t0) / rounds * 1000, body.count(b"\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--processes", type=int, default=4)
    args = ap.parse_args()
    records = make_records(args.n)
    as_models = [r.__dict__ for r in records]
    as_lines = [orjson.loads(record_json_bytes(r)) for r in records]
    root = Path(_DIR)
    try:
        thread = observe_us(root / "thread", [as_models[i:i + BATCH]
                                              for i in range(0, args.n, BATCH)])
        child = observe_us(root / "child", [as_lines[i:i + BATCH]
                                            for i in range(0, args.n, BATCH)])
        naive = naive_us(records[: min(args.n, 20_000)])
        publish, deployments = publish_us(root / "child")
        scrape, lines = scrape_ms(root / "child", args.processes)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"count records (recorder thread)   {thread:8.2f} µs/record   target ≤ "
          f"{TARGET_OBSERVE_US:g}")
    print(f"count records (recorder child)    {child:8.2f} µs/record   target ≤ "
          f"{TARGET_OBSERVE_US:g}   (serving process: 0)")
    print(f"  reference: per-request prometheus-client updates {naive:.2f} µs/request, "
          "in the serving process")
    print(f"publish engine gauges             {publish:8.1f} µs ({deployments} deployments)"
          f"   target ≤ {TARGET_PUBLISH_US:g}, once per publish_s")
    print(f"scrape /metrics ({args.processes} processes)       {scrape:8.2f} ms "
          f"({lines} lines)   target ≤ {TARGET_SCRAPE_MS:g}")


if __name__ == "__main__":
    main()
