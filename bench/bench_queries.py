"""Dashboard queries over a store of N records (default 1,000,000 over 30 days).

    python bench/bench_queries.py [--n 1000000] [--seed 0] [--store PATH] [--repeat 5]

The store is built once with bench/make_store.py (through the recorder's write path) and
kept at PATH (default: the temp dir, named by N and seed) for later runs and other benches.
Each query runs --repeat times; the median is printed beside the 50 ms target. The queries
end at the newest record, as a console looking at "now" would. Also prints the store's size
per million records.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402

from axtui.store.db import Store, open_store  # noqa: E402
from axtui.store.metrics import METRIC_NAMES, metric_series, metric_value  # noqa: E402
from axtui.store.tables import RequestRow  # noqa: E402
from bench.make_store import build_store  # noqa: E402

TARGET_MS = 50.0
H, D = 3600.0, 86400.0
WINDOWS = {"5m": 300.0, "1h": H, "24h": D, "7d": 7 * D, "30d": 30 * D}


def default_path(n: int, seed: int) -> Path:
    return Path(tempfile.gettempdir()) / f"axtui-bench-store-{n}-{seed}.db"


def ensure_store(path: Path, n: int, seed: int) -> Path:
    if not path.exists():
        print(f"building a store of {n:,} records at {path} ...", flush=True)
        info = build_store(path, n, seed, progress=True)
        print(f"  built in {info.seconds:.0f} s ({n / info.seconds:,.0f} records/s)")
    return path


def queries(store: Store, now: float) -> list[tuple[str, Callable[[], object]]]:
    out: list[tuple[str, Callable[[], object]]] = []
    for w in ("5m", "1h", "24h", "7d"):
        out.append((f"deployment_health {w}",
                    lambda w=w: store.deployment_health(now - WINDOWS[w], now)))
    for w in ("1h", "24h", "7d"):
        out.append((f"route_stats {w}", lambda w=w: store.route_stats(now - WINDOWS[w], now)))
    for w in ("1h", "24h"):
        out.append((f"minute_series {w}", lambda w=w: store.minute_series(now - WINDOWS[w], now)))
    for group, w in (("route", "30d"), ("deployment", "30d"), ("user", "24h"), ("key", "24h")):
        out.append((f"spend by {group} {w}",
                    lambda g=group, w=w: store.spend(now - WINDOWS[w], now, g)))

    def metric(name: str, scope: str, w: str) -> Callable[[], object]:
        def run() -> object:
            with store.connect() as conn:
                return metric_value(conn, name, scope, now - WINDOWS[w], now)
        return run

    for name in METRIC_NAMES:
        for w in ("1h", "24h", "7d"):
            out.append((f"metric {name} global {w}", metric(name, "global", w)))
    for scope in ("deployment:openai/gpt-4o-mini", "provider:anthropic", "route:chat-default"):
        out.append((f"metric p95 {scope} 7d", metric("p95", scope, "7d")))

    def series(name: str, w: str, step: int) -> Callable[[], object]:
        def run() -> object:
            with store.connect() as conn:
                return metric_series(conn, name, "global", now - WINDOWS[w], now, step)
        return run

    out.append(("series p95 24h / 5 min", series("p95", "24h", 300)))
    out.append(("series error_rate 7d / 1 h", series("error_rate", "7d", 3600)))
    out.append(("series cost_per_hour 30d / 1 d", series("cost_per_hour", "30d", 86400)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = ensure_store(args.store or default_path(args.n, args.seed), args.n, args.seed)
    store = open_store(f"sqlite:///{path}")
    with store.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        n = conn.execute(select(func.count()).select_from(RequestRow)).scalar() or 0
        now = conn.execute(select(func.max(RequestRow.started_at))).scalar() or time.time()
    failed = 0
    print(f"{'query':<44} {'median':>9}  target")
    for name, run in queries(store, now):
        run()  # warm: statement compile, page cache
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            run()
            times.append((time.perf_counter() - t) * 1000)
        median = statistics.median(times)
        ok = median <= TARGET_MS
        failed += not ok
        print(f"{name:<44} {median:>7.1f}ms  <= {TARGET_MS:.0f} ms {'PASS' if ok else 'FAIL'}")
    size = path.stat().st_size
    print(f"store: {n:,} records, {size / 1e6:,.1f} MB on disk = "
          f"{size / max(n, 1) * 1e6 / 1e9:,.2f} GB per million records (raw JSON dominates)")
    store.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
