"""Alert evaluation: 100 rules (every metric, every scope kind, windows from 1 minute to
1 hour, budget thresholds), one evaluation, over a store of recorded traffic.

    python bench/bench_alerts.py [--n 200000] [--span-h 24] [--runs 20] [--store PATH]

Uses bench/make_store.py's build_store(path, n, seed) when it is there; otherwise records
are made like bench_recorder's and spread over --span-h hours of time, written through the
Recorder. One evaluation is everything the host's job does every 15 s: read the rules and
the previous states, read every value, write 100 state rows and the transitions' events,
in one transaction. Prints the median and worst beside the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.alerts.evaluator import AlertEvaluator  # noqa: E402
from axtui.alerts.rules import AlertRule, budget_rules  # noqa: E402
from axtui.alerts.state import read_alert_statuses  # noqa: E402
from axtui.clock import VirtualClock  # noqa: E402
from axtui.config import BudgetConfig  # noqa: E402
from axtui.store import Recorder, open_store  # noqa: E402

TARGET_MS = 50.0
RULES = 100
WINDOWS = ("1m", "5m", "15m", "1h")
METRICS = ("error_rate", "success_rate", "p50", "p95", "p99", "ttft_p95", "request_rate",
           "cost_per_hour", "failover_rate", "headroom_near_miss_rate", "breaker_open")


def build(path: Path, n: int, span_h: float, seed: int) -> tuple[str, str]:
    """The store's URL and how it was built."""
    try:
        from bench.make_store import build_store  # the rollups helper's 1M-record builder
    except ImportError:
        build_store = None
    url = f"sqlite:///{path}"
    if build_store is not None:
        build_store(path, n, seed)
        return url, f"bench/make_store.py build_store(n={n:,})"
    from bench.bench_recorder import make_records

    records = make_records(n, seed)
    t0, step = records[0].started_at, span_h * 3600 / n
    store = open_store(url)
    with Recorder(store) as recorder:
        for i, r in enumerate(records):
            t = t0 + i * step
            recorder.submit(r.model_copy(update={"started_at": t, "ended_at": t + 1.0}))
    store.close()
    return url, f"{n:,} records over {span_h:g} h via the Recorder (make_store.py not found)"


def scopes(store) -> list[str]:
    with store.connect() as conn:
        rows = conn.exec_driver_sql("SELECT DISTINCT route, deployment FROM request").all()
    routes = sorted({r for r, _ in rows})
    deployments = sorted({d for _, d in rows if d})
    providers = sorted({d.partition("/")[0] for d in deployments})
    return (["global"] + [f"route:{r}" for r in routes]
            + [f"deployment:{d}" for d in deployments] + [f"provider:{p}" for p in providers])


def make_rules(scope_list: list[str], budgets: list[BudgetConfig]) -> list[AlertRule]:
    rules = budget_rules(budgets)
    i = 0
    while len(rules) < RULES:
        metric = METRICS[i % len(METRICS)]
        scope = scope_list[(i // len(METRICS) + i) % len(scope_list)]
        if metric == "breaker_open" and scope.startswith("route:"):
            scope = "global"
        rules.append(AlertRule.model_validate({
            "name": f"rule-{i:03d}", "metric": metric, "scope": scope, "operator": ">",
            "threshold": 0.5, "window": WINDOWS[i % len(WINDOWS)], "for": "1m"}))
        i += 1
    return rules


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="records in the store")
    ap.add_argument("--span-h", type=float, default=24.0, help="hours the records cover")
    ap.add_argument("--runs", type=int, default=20, help="evaluations to time")
    ap.add_argument("--store", type=Path, help="reuse (or build) the store at this path")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "alerts.db"
        if path.exists():
            url, how = f"sqlite:///{path}", f"existing store {path}"
        else:
            started = time.perf_counter()
            url, how = build(path, args.n, args.span_h, args.seed)
            how += f", built in {time.perf_counter() - started:.1f}s"
        store = open_store(url)
        with store.connect() as conn:
            newest = conn.exec_driver_sql("SELECT max(started_at) FROM request").scalar()
        clock = VirtualClock(float(newest) + 1.0)
        store.clock = clock
        budgets = [BudgetConfig(scope="global", period="day", limit_usd="100")]
        rules = make_rules(scopes(store), budgets)
        ev = AlertEvaluator(store, rules, clock, budgets=budgets)
        ev.evaluate()  # the first evaluation inserts the state rows
        times = []
        for _ in range(args.runs):
            clock.advance(15.0)
            started = time.perf_counter()
            ev.evaluate()
            times.append((time.perf_counter() - started) * 1000)
        reads = []
        for _ in range(args.runs):  # what a Snapshot spends on alerts, in its transaction
            with store.connect() as conn:
                started = time.perf_counter()
                read_alert_statuses(conn, clock.now())
                reads.append((time.perf_counter() - started) * 1000)
        store.close()
    times.sort()
    worst = times[-1]
    median = statistics.median(times)
    print(f"store: {how}")
    print(f"{len(rules)} alert rules, one evaluation: median {median:.1f} ms, worst "
          f"{worst:.1f} ms over {args.runs} runs   (target <= {TARGET_MS:.0f} ms: "
          f"{'met' if median <= TARGET_MS else 'MISSED'})")
    print(f"read_alert_statuses (the Snapshot's alert read): median "
          f"{statistics.median(reads):.1f} ms for {len(rules)} alerts")


if __name__ == "__main__":
    main()
