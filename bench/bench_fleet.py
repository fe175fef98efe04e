"""Fleet benchmark (issue 13): `axtui serve --workers 4` on PostgreSQL + Redis beside one
`axtui serve` process on SQLite, both against the fake upstream (bench/upstream.py), driven
by wrk with non-streaming requests. The bench starts every server itself: PostgreSQL and
redis-server as plain processes on temporary directories (tests/servers/).

    python bench/bench_fleet.py [--duration 10] [--connections 64] [--workers 4]

Each figure is printed beside its target, with PASS/MISS where there is one:
  throughput at --connections, and added latency p50/p99 at concurrency 1 over calling the
    upstream directly: stated for both setups (no target);
  records lost: 0 in each setup (records == the upstream calls made for the gateway plus
    the quota's refusals, and no fewer than the answers the clients read);
  quota accuracy under load: a 600-rpm per-user quota, hammered through all the workers,
    admits within 1% of what its rate allows over the burst (600 + 10 a second);
  kill propagation: a drain written to the store is applied by every worker (each one's
    /readyz, on a connection pinned to it) within 250 ms, the worst of --kills trials.
Exit code 0 when every target passes, 1 when one misses, 2 when the bench cannot run. Without
a PostgreSQL or Redis server binary the fleet runs on what there is and says which rows are
missing.

The machine is shared (2 cores): wrk, the upstream, PostgreSQL, Redis and every gateway
process compete for them, so the fleet's throughput is bounded by the cores, not by the
number of workers; each measurement says how busy the rest of the machine was.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import (  # noqa: E402
    OtherLoad,
    Processes,
    Verdicts,
    free_port,
    tail,
    upstream_served,
    wait_http,
)
from loadgen import LoadgenError, WrkResult, ensure_wrk, run_wrk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUOTA_RPM = 600
QUOTA_REFILL_PER_S = QUOTA_RPM / 60
QUOTA_TOLERANCE = 0.01
KILL_TARGET_MS = 250.0
DIRECT_MODEL = "gpt-direct"  # the upstream counts served completions per model: apart
SPARE = "spare/gpt-spare"  # a deployment no traffic uses: drained and undrained for kills


def config(store_url: str, upstream: str, model: str, tmp: Path, redis_url: str | None) -> str:
    redis = f'[redis]\nurl = "{redis_url}"\ntimeout_s = 0.2\n' if redis_url else ""
    return f"""\
[store]
url = "{store_url}"
handoff_dir = "{tmp / 'handoff'}"

[metrics]
dir = "{tmp / 'metrics'}"

{redis}
[quotas.per_user]
rpm = {QUOTA_RPM}

[providers.fake]
protocol = "openai"
base_url = "{upstream}/v1"

[providers.spare]
protocol = "openai"
base_url = "{upstream}/v1"

[[deployments]]
provider = "fake"
model = "{model}"
price = {{ input = "0.15", output = "0.60" }}

[[deployments]]
provider = "fake"
model = "{model}-quota"
price = {{ input = "0.15", output = "0.60" }}

[[deployments]]
provider = "spare"
model = "gpt-spare"
price = {{ input = "0.15", output = "0.60" }}

[routes.bench]
candidates = ["fake/{model}"]
strategy = "priority"

[routes.quota]
candidates = ["fake/{model}-quota"]
strategy = "priority"

[routes.spare]
candidates = ["{SPARE}"]
strategy = "priority"
"""


@dataclass
class Setup:
    """One gateway setup under test and what it was measured at."""

    name: str
    store_url: str
    model: str  # what its deployments ask the upstream for
    workers: int
    redis_url: str | None
    latency: WrkResult | None = None
    throughput: WrkResult | None = None
    runs: list[WrkResult] = field(default_factory=list)  # every wrk run against it
    lost: int | None = None
    notes: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
        self.args = args
        self.procs = procs
        self.tmp = tmp
        self.wrk = ensure_wrk()
        self.verdicts = Verdicts()
        self.upstream = ""
        self.direct: WrkResult | None = None
        self.missing: list[str] = []
        self.servers: list = []  # PostgreSQL and Redis, stopped at the end

    # ------------------------------------------------------------------ wrk

    def wrk_run(self, url: str, model: str, conns: int, duration: float, label: str
                ) -> WrkResult:
        other = OtherLoad([pid for _, pid in self.procs.pids()])
        other.start()
        r = run_wrk(self.wrk, url, model, connections=conns, duration_s=duration)
        busy = other.stop()
        print(f"  {label:<34} c={conns:<3} {r.rps:>8,.0f} req/s  p50 {r.ms('p50'):6.2f} ms  "
              f"p99 {r.ms('p99'):6.2f} ms  errors {r.failed}  (others {busy:.2f} cores)",
              flush=True)
        return r

    # ------------------------------------------------------------------ servers

    def start_upstream(self) -> None:
        port = free_port()
        self.procs.start("upstream", [sys.executable, str(ROOT / "bench" / "upstream.py"),
                                      "--port", str(port), "--latency-ms",
                                      str(self.args.latency_ms)], self.tmp / "upstream.log")
        self.upstream = f"http://127.0.0.1:{port}"
        wait_http(f"{self.upstream}/stats", self.procs, 15)

    def backing_servers(self) -> tuple[str | None, str | None]:
        """A PostgreSQL database URL and a Redis URL, or None (and why, in `missing`)."""
        pg_url = redis_url = None
        try:
            from tests.servers.postgres import start_postgres

            pg = start_postgres(durable=True)  # fsync on: SQLite's WAL syncs too
            self.servers.append(pg)
            pg_url = pg.create_database("bench_fleet")
        except (ImportError, RuntimeError, OSError) as e:
            self.missing.append(f"PostgreSQL ({type(e).__name__}: {e})")
        try:
            from tests.servers.redis import RedisServer

            redis = RedisServer.start()
            self.servers.append(redis)
            redis_url = redis.url
        except (ImportError, RuntimeError, OSError) as e:
            self.missing.append(f"Redis ({type(e).__name__}: {e})")
        return pg_url, redis_url

    def start_gateway(self, s: Setup) -> str:
        folder = self.tmp / s.name
        folder.mkdir()
        cfg = folder / "axtui.toml"
        cfg.write_text(config(s.store_url, self.upstream, s.model, folder, s.redis_url))
        port = free_port()
        cmd = [sys.executable, "-m", "axtui.cli.main", "serve", "--config", str(cfg),
               "--listen", f"127.0.0.1:{port}"]
        if s.workers > 1:
            cmd += ["--workers", str(s.workers)]
        log = folder / "serve.log"
        self.procs.start(s.name, cmd, log, env={"PYTHONPATH": str(ROOT)})
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", self.procs, 180)
        if s.workers > 1:  # every worker up, not just the first
            deadline = time.monotonic() + 180
            while "workers ready" not in log.read_text(errors="replace"):
                self.procs.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{s.name}: not every worker started:\n{tail(log)}")
                time.sleep(0.1)
        return url

    def stop_gateway(self, s: Setup) -> None:
        """SIGTERM: every worker drains, its recorder writes the last records."""
        import signal

        for name, proc, log in list(self.procs.started):
            if name == s.name:  # the leader alone, as a user's kill: its recorder child
                os.kill(proc.pid, signal.SIGTERM)  # writes until the parent says stop
                code = proc.wait(120)
                self.procs.started.remove((name, proc, log))
                if code != 0:
                    s.notes.append(f"exited {code}: {tail(log, 5)}")

    # ------------------------------------------------------------------ phases

    def measure(self, s: Setup) -> None:
        a = self.args
        print(f"\n[{s.name}] {s.workers} process{'es' if s.workers > 1 else ''} on "
              f"{s.store_url.split(':', 1)[0]}" + (" + Redis" if s.redis_url else ""),
              flush=True)
        url = self.start_gateway(s)
        chat = f"{url}/v1/chat/completions"
        warm = self.wrk_run(chat, "bench", 8, 2, "warm-up")
        s.latency = self.wrk_run(chat, "bench", 1, a.duration, "added latency (vs direct)")
        s.throughput = self.wrk_run(chat, "bench", a.connections, a.duration, "throughput")
        s.runs += [warm, s.latency, s.throughput]
        if s.workers > 1:
            self.quota(s, chat)
            self.kills(s, url)
        self.stop_gateway(s)
        self.count(s)

    def quota(self, s: Setup, chat: str) -> None:
        """One user's requests from 32 connections for --quota-s, far past the quota: the
        requests the gateways admitted (the upstream's count for the quota route) against
        what the quota allows over the run (its burst, plus its refill meanwhile)."""
        before = upstream_served(self.upstream, f"{s.model}-quota")
        t0 = time.perf_counter()
        r = run_wrk(self.wrk, chat, "quota", connections=32, duration_s=self.args.quota_s,
                    user="bench-quota")
        span = time.perf_counter() - t0  # wrk's start-up included: the allowance is generous
        admitted = upstream_served(self.upstream, f"{s.model}-quota") - before
        s.runs.append(r)
        allowed = QUOTA_RPM + QUOTA_REFILL_PER_S * span
        error = (admitted - allowed) / allowed
        print(f"  quota: {r.requests:,} requests in {span:.2f} s from one user; "
              f"{admitted} admitted, {r.errors.get('status', 0):,} refused; the quota allows "
              f"{allowed:.0f} ({QUOTA_RPM} + {QUOTA_REFILL_PER_S:g}/s)", flush=True)
        if not s.redis_url:
            s.notes.append("quota not shared: no Redis")
        if not r.errors.get("status", 0):  # never past the quota: the figure would say nothing
            self.verdicts.record(f"quota accuracy: the burst never reached the quota "
                                 f"({r.rps:,.0f} req/s); raise --quota-s", False)
            return
        self.verdicts.check(f"quota accuracy under load ({s.workers} workers)",
                            abs(error) * 100, QUOTA_TOLERANCE * 100, "%", upper=True)

    def kills(self, s: Setup, url: str) -> None:
        """Drain (then undrain) a deployment through the store, as the console's kill does;
        time until every worker's /readyz shows it, each on a connection pinned to it."""
        from axtui.engine.control import drain, undrain
        from axtui.store import open_store

        pinned = pin_workers(url, s.workers)
        store = open_store(s.store_url)
        worst: list[float] = []
        try:
            for i in range(self.args.kills):
                before = {w: routable(c) for w, c in pinned.items()}
                if i % 2 == 0:
                    drain(store, SPARE, "bench kill", "bench")
                else:
                    undrain(store, SPARE, "bench")
                t0 = time.perf_counter()  # committed: the clock starts
                seen: dict[str, float] = {}
                while len(seen) < len(pinned) and time.perf_counter() - t0 < 5:
                    for w, conn in pinned.items():
                        if w not in seen and routable(conn) != before[w]:
                            seen[w] = (time.perf_counter() - t0) * 1000
                worst.append(max(seen.values()) if len(seen) == len(pinned) else float("inf"))
        finally:
            if self.args.kills % 2:
                undrain(store, SPARE, "bench")
            store.close()
            for conn in pinned.values():
                conn.close()
        shown = ", ".join(f"{ms:.0f}" for ms in worst)
        print(f"  kill propagation to all {len(pinned)} workers, each trial: {shown} ms",
              flush=True)
        self.verdicts.check(f"kill propagation to all {len(pinned)} (worst of {len(worst)})",
                            max(worst), KILL_TARGET_MS, "ms", upper=True)

    def count(self, s: Setup) -> None:
        """Every answer the clients read has its record (lost: the shortfall), and every
        call the gateways made to the upstream is in a record of the bench route."""
        from sqlalchemy import func, select

        from axtui.store import open_store
        from axtui.store.tables import RequestRow

        completed = sum(r.requests for r in s.runs)
        in_flight = sum(r.connections for r in s.runs)  # abandoned when a wrk run stopped
        served = upstream_served(self.upstream, s.model)
        store = open_store(s.store_url)
        try:
            with store.connect() as conn:
                by_route = dict(conn.execute(select(RequestRow.route, func.count())
                                             .group_by(RequestRow.route)).all())
        finally:
            store.close()
        records = sum(by_route.values())
        s.lost = max(0, completed - records)
        print(f"  records: {records:,} stored ({by_route.get('bench', 0):,} on the bench "
              f"route, for {served:,} upstream calls); {completed:,} answers read (+ up to "
              f"{in_flight} abandoned in flight)", flush=True)
        self.verdicts.check(f"records lost ({s.name})", s.lost, 0, "", upper=True)
        if not (by_route.get("bench", 0) == served and records <= completed + in_flight):
            self.verdicts.record(f"records ({s.name}): {records:,} stored for {completed:,} "
                                 f"answers and {served:,} upstream calls", False)

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        a = self.args
        self.start_upstream()
        direct = f"{self.upstream}/v1/chat/completions"
        print(f"axtui fleet benchmark: wrk (-t1), the fake upstream ({a.latency_ms:g} ms), "
              f"PostgreSQL, Redis and the gateways share this machine's {os.cpu_count()} "
              f"cores; {a.duration:g} s per measurement; logs and stores in {self.tmp}",
              flush=True)
        print("\n[direct] the upstream alone")
        self.direct = self.wrk_run(direct, DIRECT_MODEL, 1, a.duration, "latency")
        self.wrk_run(direct, DIRECT_MODEL, a.connections, min(a.duration, 3), "ceiling")
        single = Setup("single", f"sqlite:///{self.tmp / 'single.db'}", "gpt-single", 1, None)
        self.measure(single)
        pg_url, redis_url = self.backing_servers()
        fleet = Setup("fleet", pg_url or f"sqlite:///{self.tmp / 'fleet.db'}", "gpt-fleet",
                      a.workers, redis_url)
        self.measure(fleet)
        self.table(single, fleet)
        return self.verdicts.summary()

    def table(self, *setups: Setup) -> None:
        d = self.direct
        print(f"\n{'setup':<32} {'throughput':>12} {'added p50':>10} {'added p99':>10} "
              f"{'lost':>5}   (targets: throughput and latency stated; lost 0)")
        for s in setups:
            where = ("PostgreSQL" if s.store_url.startswith("postgresql") else "SQLite") + (
                " + Redis" if s.redis_url else "")
            label = f"{s.workers} x serve on {where}"
            lat, thr = s.latency, s.throughput
            p50 = f"{lat.ms('p50') - d.ms('p50'):+.2f} ms" if lat and d else "–"
            p99 = f"{lat.ms('p99') - d.ms('p99'):+.2f} ms" if lat and d else "–"
            rps = f"{thr.rps:,.0f} req/s" if thr else "–"
            print(f"{label:<32} {rps:>12} {p50:>10} {p99:>10} {s.lost if s.lost is not None else '–':>5}"
                  + (f"   ({'; '.join(s.notes)})" if s.notes else ""))
        if self.missing:
            print("missing rows: the fleet ran without " + "; ".join(self.missing))

    def close(self) -> None:
        for server in self.servers:
            server.stop()


def pin_workers(url: str, workers: int, tries: int = 400) -> dict[str, http.client.HTTPConnection]:
    """One kept-alive connection on each worker: open connections until every worker (by
    /healthz's process id) holds one; the spare ones are closed."""
    host, port = url.removeprefix("http://").split(":")
    pinned: dict[str, http.client.HTTPConnection] = {}
    for _ in range(tries):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/healthz")
        process = json.loads(conn.getresponse().read())["process"]
        if process in pinned:
            conn.close()
        else:
            pinned[process] = conn
            if len(pinned) == workers:
                return pinned
    raise RuntimeError(f"only {len(pinned)} of {workers} workers took a connection")


def routable(conn: http.client.HTTPConnection) -> int:
    conn.request("GET", "/readyz")
    return json.loads(conn.getresponse().read())["routable"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=64, help="wrk connections for throughput")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--latency-ms", type=float, default=0.0, help="the fake upstream's latency")
    p.add_argument("--quota-s", type=float, default=6.0, help="seconds of the quota burst")
    p.add_argument("--kills", type=int, default=6, help="drain/undrain trials")
    p.add_argument("--keep", action="store_true", help="keep the logs and stores")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="axtui-bench-fleet-"))
    procs = Processes()
    bench = None
    try:
        bench = Bench(args, procs, tmp)
        return bench.run()
    except (LoadgenError, RuntimeError) as e:
        print(f"bench cannot run: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        procs.stop_all()
        if bench is not None:
            bench.close()
        if not args.keep:
            Processes.remove_dir(tmp)


if __name__ == "__main__":
    sys.exit(main())
