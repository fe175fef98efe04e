"""Each cost query over a store of 1M records (30 days of traffic), against the 50 ms
target of a dashboard query.

    python bench/bench_costs.py [--n 1000000] [--store make|costs] [--path P] [--repeat 3]

`--store make` (the default) is the shared bench store (bench/make_store.py: 5,000 users
on a Pareto curve, records without a complexity); `--store costs` is bench/costs_store.py
(500 users every hour, the worst case for folding, and a complexity on every record).
Either is built once and reused. Spend by user, key and complexity is folded
(axtui/costs/folded.py) before the queries, as the host's periodic job keeps it. Figures
are the median of --repeat warm runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import costs_store  # noqa: E402
import make_store  # noqa: E402

from axtui import costs  # noqa: E402
from axtui.config import BudgetConfig  # noqa: E402
from axtui.costs.folded import fold  # noqa: E402
from axtui.store import open_store  # noqa: E402

TARGET_MS = 50.0


def timed(fn, repeat: int) -> float:
    fn()  # warm the page cache and SQLAlchemy's statement cache
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--store", choices=("make", "costs"), default="make")
    ap.add_argument("--path", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    path = a.path or Path(f"/tmp/axtui-{a.store}-{a.n}.db")
    t = time.perf_counter()
    if a.store == "costs":
        costs_store.build(path, a.n, 7)
        end = costs_store.T0 + costs_store.SPAN_S
    else:
        if not path.exists():
            make_store.build_store(path, a.n, seed=0)
        end = make_store.END
    print(f"store: {a.n:,} records over 30 days at {path} "
          f"({path.stat().st_size / 1e6:,.0f} MB, ready in {time.perf_counter() - t:.0f}s)")
    store = open_store(f"sqlite:///{path}")
    t = time.perf_counter()
    n = fold(store)
    print(f"fold of user/key/complexity spend: {n:,} rows in {time.perf_counter() - t:.1f}s "
          "(once; then only new rows)")
    at = end - 5.5 * 3600  # late on the last day: day, week and month all hold data
    budgets = [BudgetConfig(scope="global", period="day", limit_usd=Decimal(500)),
               BudgetConfig(scope="route:chat", period="month", limit_usd=Decimal(9000)),
               BudgetConfig(scope="user:*", period="day", limit_usd=Decimal(5))]
    cases = []
    for label in ("day", "week", "month"):
        w = costs.window(label, at)
        for by in costs.BY:
            cases.append((f"breakdown --by {by} --range {label}",
                          lambda w=w, by=by: costs.breakdown(store, by, w.since, w.until)))
    w7 = costs.window("7d", at)
    cases += [
        ("optimal --range 7d", lambda: costs.optimal(store, w7.since, w7.until)),
        ("projection day", lambda: costs.projection(store, "day", at)),
        ("projection month", lambda: costs.projection(store, "month", at)),
        ("projection month user:user-1",
         lambda: costs.projection(store, "month", at, scope="user:user-1")),
        ("budget_status (global, route, user:*)",
         lambda: costs.budget_status(store, budgets, at)),
        ("recommendations 7d", lambda: costs.recommendations(store, w7.since, w7.until)),
        ("spend_series provider 24h / 5 min",
         lambda: costs.spend_series(store, "provider", at - 86_400, at, 300)),
        ("spend_series provider 7d / 1 h",
         lambda: costs.spend_series(store, "provider", w7.since, at, 3600)),
        ("summary (everything above for the CLI)", lambda: costs.summary(store, at)),
    ]
    width = max(len(name) for name, _ in cases)
    print(f"\n{'query':{width}}  {'median':>9}  target")
    over = 0
    for name, fn in cases:
        ms = timed(fn, a.repeat)
        flag = "" if ms <= TARGET_MS else "  OVER"
        over += ms > TARGET_MS
        print(f"{name:{width}}  {ms:7.1f}ms  ≤ {TARGET_MS:.0f} ms{flag}")
    print(f"\n{len(cases) - over} of {len(cases)} within target")
    store.close()


if __name__ == "__main__":
    main()
