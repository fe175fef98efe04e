"""One Snapshot over a store of N records (default 1,000,000 over 30 virtual days).

    python bench/bench_snapshot.py [--n 1000000] [--seed 0] [--store PATH] [--repeat 20]

The store comes from bench/make_store.py (built once through the recorder's write path and
kept for later runs, shared with bench_queries.py). The config names the store's routes and
deployments, with two flags rolling out (so gate verdicts are computed) and the demo's alert
rules when the alerts package is present. Prints the first build (gate verdicts computed)
and the median and worst of the next builds (verdicts reused until a flag changes or
`gate_ttl_s` passes) beside the 50 ms target, at the time of the newest record.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.config import parse_config  # noqa: E402
from axtui.flags.ops import seed as seed_flags  # noqa: E402
from axtui.snapshot.build import SnapshotBuilder  # noqa: E402
from axtui.store.db import open_store  # noqa: E402
from bench.bench_queries import default_path, ensure_store  # noqa: E402
from bench.make_store import ROUTES  # noqa: E402

TARGET_MS = 50.0


def bench_config(url: str):
    deployments = sorted({d for ds in ROUTES.values() for d in ds})
    providers = sorted({d.split("/", 1)[0] for d in deployments})
    first, second = ROUTES["chat-default"][:2]
    return parse_config({
        "store": {"url": url},
        "providers": {p: {"protocol": "sim", "sim": {}} for p in providers},
        "deployments": [{"provider": d.split("/", 1)[0], "model": d.split("/", 1)[1],
                         "price": {"input": "1", "output": "2"}} for d in deployments],
        "routes": {r: {"candidates": ds} for r, ds in ROUTES.items()},
        "budgets": [{"scope": "global", "period": "day", "limit_usd": "500"}],
        "flags": {
            "canary_split": {"effect": {"kind": "split", "route": "chat-default",
                                        "deployment": second}, "pct": 5,
                             "ladder": [1, 5, 25, 100]},
            "force_first": {"effect": {"kind": "force", "route": "chat-default",
                                       "deployment": first}, "pct": 1,
                            "ladder": [1, 5, 25, 100]},
        },
    }, "bench")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    path = ensure_store(args.store or default_path(args.n, args.seed), args.n, args.seed)
    url = f"sqlite:///{path}"
    cfg = bench_config(url)
    store = open_store(url)
    try:
        with store.connect() as conn:
            now = float(conn.exec_driver_sql("SELECT max(ended_at) FROM request").scalar())
        seed_flags(store, cfg, now=now - 7200)
        builder = SnapshotBuilder(store, cfg)
        t0 = time.perf_counter()
        snap = builder.build(now)
        first_ms = (time.perf_counter() - t0) * 1000
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            builder.build(now)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        store.close()
    median, worst = statistics.median(times), max(times)
    verdict = "PASS" if median <= TARGET_MS else "MISS"
    print(f"store: {args.n:,} records, {path.stat().st_size / 1e6:,.0f} MB; snapshot of "
          f"{len(snap.deployments)} deployments, {len(snap.routes)} routes, "
          f"{len(snap.flags)} flags, {len(snap.alerts)} alerts, "
          f"{sum(len(s.points) for s in snap.spend.by_provider)} spend points")
    print(f"first build (gate verdicts computed): {first_ms:7.1f} ms")
    print(f"next {args.repeat} builds: median {median:7.1f} ms, worst {worst:7.1f} ms   "
          f"target ≤ {TARGET_MS:.0f} ms   {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
