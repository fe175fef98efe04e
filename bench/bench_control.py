"""Control-plane propagation: how long after an operator's write every gateway process has
applied it, on PostgreSQL (LISTEN/NOTIFY) and on SQLite (polling), side by side.

    python bench/bench_control.py [--processes 4] [--changes 20] [--store URL ...]

N processes each run an engine kept in step by ControlSync at the gateway's default poll
(tests/store_pg/control_child.py); this process drains and undrains a deployment `--changes`
times and times, for each write, until the slowest process has applied it. PostgreSQL runs
on a temporary server (tests/servers/postgres.py) unless --store names one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.config import GatewayConfig  # noqa: E402
from axtui.engine.control import drain, undrain  # noqa: E402
from axtui.store import open_store  # noqa: E402
from tests.store_pg.control_child import Fleet  # noqa: E402

TARGET_MS = 250.0


def measure(name: str, url: str, processes: int, changes: int) -> bool:
    poll = GatewayConfig().control_poll_s
    store = open_store(url)
    worst: list[float] = []
    with Fleet(url, processes, poll_s=poll) as fleet:
        for i in range(changes):
            written_at = time.time()
            if i % 2 == 0:
                version = drain(store, "a/cheap", "bench", by="bench")
            else:
                undrain(store, "a/cheap", by="bench")
                version = store.control_version()
            worst.append(max(fleet.applied_after(version, written_at)) * 1000)
            time.sleep(0.05)  # the next change starts from quiet, not in a burst
        listening = all(fleet.listening)
    store.close()
    worst.sort()
    p50, top = statistics.median(worst), worst[-1]
    verdict = "PASS" if top <= TARGET_MS else "FAIL"
    how = "LISTEN/NOTIFY" if listening else f"poll every {poll * 1000:.0f} ms"
    print(f"{name:<10} {how:<22} kill -> all {processes} processes: p50 {p50:6.1f} ms  "
          f"max {top:6.1f} ms  (target <= {TARGET_MS:.0f} ms) {verdict}", flush=True)
    return verdict == "PASS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--store", action="append", default=[], metavar="URL",
                        help="measure this store instead of the temporary ones; repeatable")
    args = parser.parse_args()
    ok = True
    if args.store:
        for url in args.store:
            ok &= measure(url.split(":", 1)[0], url, args.processes, args.changes)
        return 0 if ok else 1
    from tests.servers.postgres import PostgresUnavailable, start_postgres

    with tempfile.TemporaryDirectory(prefix="axtui-bench-") as tmp:
        ok &= measure("sqlite", f"sqlite:///{Path(tmp) / 'control.db'}", args.processes,
                      args.changes)
    try:
        with start_postgres(durable=True) as pg:
            ok &= measure("postgresql", pg.create_database("control"), args.processes,
                          args.changes)
    except PostgresUnavailable as why:
        print(f"postgresql: skipped ({why})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
