"""Gateway benchmark (issue 3): `axtui serve` against a fake OpenAI-compatible upstream,
side by side with calling the upstream directly, driven by wrk with non-streaming requests.

    python bench/bench_gateway.py [--duration 10] [--litellm /path/to/venv/bin/python]

Targets, each printed beside its figure with PASS/MISS:
  added latency at concurrency 1 (0 ms upstream): p50 <= 1 ms, p99 <= 3 ms over direct;
  20 ms upstream, 20 connections: gateway throughput >= 90% of direct;
  0 ms upstream, saturation (32 and 64 connections): >= 1,500 requests/s, recording on;
  streaming at concurrency 1 (bench/streamcase.py): added time to first chunk p50 <= 0.5 ms,
  p99 <= 1.5 ms over direct; the gateway's CPU per chunk relayed is printed beside it;
and every request the gateway served is a record in its store.
Exit code 0 when every target passes, 1 when one misses, 2 when the bench cannot run.

The fake upstream's latency is exact from each request's arrival (a timerfd; see
bench/upstream.py), for direct calls and the gateway's alike. With uvloop's millisecond
timers it answered everything that arrived within one millisecond at one instant, 19-21 ms
later: that re-bunched the requests a proxy had spread out and made the proxy queue them,
which a real upstream does not do (its latency is not quantized), so it penalised the
gateway's side only.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import (  # noqa: E402
    CpuMeter,
    OtherLoad,
    Processes,
    Verdicts,
    count_records,
    free_port,
    upstream_served,
    wait_http,
    wait_quiet,
)
from loadgen import LoadgenError, WrkResult, ensure_wrk, run_wrk  # noqa: E402
from streamcase import StreamClient, pct  # noqa: E402

ADDED_P50_MS, ADDED_P99_MS = 1.0, 3.0
TTFC_P50_MS, TTFC_P99_MS = 0.5, 1.5  # streaming: added time to first chunk, c=1
THROUGHPUT_RATIO = 0.90
SATURATION_RPS = 1500
BUSY_CORES = 0.15  # other processes busier than this during a measurement get a note
UPSTREAM_KEY_ENV = "AXTUI_BENCH_UPSTREAM_KEY"  # a dummy: the fake upstream ignores it
MODEL = "gpt-4o-mini"  # what the gateway's deployments ask the upstream for
DIRECT_MODEL = "gpt-4o-mini-direct"  # what direct calls ask for: the upstream counts apart
LITELLM_MODEL = "gpt-4o-mini-litellm"  # and LiteLLM's, so its calls are not counted as ours
ROOT = Path(__file__).resolve().parents[1]


def wait_s(seconds: float) -> None:
    """Let the gateway idle (its background CPU is measured meanwhile)."""
    time.sleep(seconds)


def gateway_config(up0: str, up20: str, db_url: str, recorder: str | None = None,
                   up_burst: str | None = None) -> str:
    """One openai-protocol provider per fake upstream (0 ms and 20 ms, and the streaming
    case's burst upstream), one deployment each, and a priority route per phase; recording
    on into a temporary SQLite store."""
    recorder_line = f'recorder = "{recorder}"\n' if recorder else ""
    burst = "" if up_burst is None else f"""
[providers.fakeburst]
protocol = "openai"
vendor = "openai"
base_url = "{up_burst}/v1"
api_key_env = "{UPSTREAM_KEY_ENV}"

[[deployments]]
provider = "fakeburst"
model = "{MODEL}"

[routes.bench-burst]
candidates = ["fakeburst/{MODEL}"]
strategy = "priority"
"""
    return f"""\
[store]
url = "{db_url}"
{recorder_line}
[providers.fake]
protocol = "openai"
vendor = "openai"
base_url = "{up0}/v1"
api_key_env = "{UPSTREAM_KEY_ENV}"

[providers.fake20]
protocol = "openai"
vendor = "openai"
base_url = "{up20}/v1"
api_key_env = "{UPSTREAM_KEY_ENV}"

[[deployments]]
provider = "fake"
model = "{MODEL}"

[[deployments]]
provider = "fake20"
model = "{MODEL}"

[routes.bench]
candidates = ["fake/{MODEL}"]
strategy = "priority"

[routes.bench-20ms]
candidates = ["fake20/{MODEL}"]
strategy = "priority"
{burst}"""


def serve_command(config: Path, listen: str, store_url: str) -> list[str]:
    """One gateway process, as a user starts it."""
    return [
        sys.executable,
        "-m",
        "axtui.cli.main",
        "serve",
        "--config",
        str(config),
        "--listen",
        listen,
        "--store",
        store_url,
    ]


def litellm_config(up0: str) -> str:
    return f"""\
model_list:
  - model_name: bench
    litellm_params:
      model: openai/{LITELLM_MODEL}
      api_base: {up0}/v1
      api_key: sk-bench-dummy
"""


@dataclass
class Run:
    """One wrk measurement, with the gateway's CPU over it and what else the machine ran."""

    who: str
    r: WrkResult
    other_cores: float
    gw_cpu: CpuMeter | None = None

    def line(self) -> str:
        r = self.r
        text = (
            f"    {self.who:<8} p50 {r.ms('p50'):6.2f} ms  p99 {r.ms('p99'):7.2f} ms  "
            f"{r.rps:8,.0f} req/s  ({r.requests:,} in {r.duration_s:.1f} s, c{r.connections})"
        )
        if self.gw_cpu is not None:
            text += (
                f"  gateway CPU {self.gw_cpu.per_request_us():.0f} µs/req, "
                f"{self.gw_cpu.cores():.2f} cores"
            )
        if r.failed:
            text += f"  ERRORS {r.errors}"
        if self.other_cores >= BUSY_CORES:
            text += f"  [other processes: {self.other_cores:.2f} cores]"
        return text


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
        self.args = args
        self.procs = procs
        self.tmp = tmp
        self.wrk = ensure_wrk()
        self.verdicts = Verdicts()
        self.gateway_runs: list[WrkResult] = []
        self.gateway_pid = 0
        self.other_max = 0.0
        self.stream_requests = 0  # streams sent through the gateway (all completed)
        self.burst = ""  # the burst upstream's base URL (start())

    def measure(
        self, who: str, url: str, model: str, conns: int, duration: float, quiet: bool = False
    ) -> Run:
        """One wrk run, printed as one line; `who` "gateway" also meters the gateway."""
        other = OtherLoad([pid for _, pid in self.procs.pids()])
        cpu = CpuMeter(self.gateway_pid) if who == "gateway" else None
        other.start()
        if cpu:
            cpu.start()
        r = run_wrk(self.wrk, url, model, connections=conns, duration_s=duration)
        if cpu:
            cpu.stop(r.requests)
        run = Run(who, r, other.stop(), cpu)
        if who == "gateway":
            self.gateway_runs.append(r)
        if not quiet:
            self.other_max = max(self.other_max, run.other_cores)
            print(run.line(), flush=True)
        return run

    def start(self) -> tuple[str, str, str]:
        ports = [free_port() for _ in range(4)]
        up0, up20, gw, burst = (f"http://127.0.0.1:{p}" for p in ports)
        # (name, port, latency, gap between a stream's words): the burst upstream sends a
        # stream's words back to back, so its streams leave no idle time between requests
        for name, port, latency, gap in (("0ms", ports[0], 0, 1), ("20ms", ports[1], 20, 1),
                                         ("burst", ports[3], 0, 0)):
            self.procs.start(
                f"upstream-{name}",
                [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(port),
                 "--latency-ms", str(latency), "--chunk-gap-ms", str(gap)],
                self.tmp / f"upstream-{name}.log",
            )
        for url in (up0, up20, burst):
            wait_http(f"{url}/stats", self.procs, 15)
        self.burst = burst
        db = self.tmp / "bench.db"
        cfg = self.tmp / "axtui.toml"
        cfg.write_text(gateway_config(up0, up20, f"sqlite:///{db}", self.args.recorder, burst))
        self.gateway_pid = self.procs.start(
            "gateway",
            serve_command(cfg, f"127.0.0.1:{ports[2]}", f"sqlite:///{db}"),
            self.tmp / "gateway.log",
            env={UPSTREAM_KEY_ENV: "sk-bench-dummy"},
        )
        wait_http(f"{gw}/healthz", self.procs, 60)
        return up0, up20, gw

    def run(self) -> int:
        a = self.args
        d = a.duration
        if a.wait_quiet > 0:
            print(f"waiting up to {a.wait_quiet:g} s for the machine to be quiet ...", flush=True)
            print(f"machine busy before start: {wait_quiet(a.wait_quiet):.2f} cores", flush=True)
        up0, up20, gw = self.start()
        direct0 = f"{up0}/v1/chat/completions"
        direct20 = f"{up20}/v1/chat/completions"
        gateway = f"{gw}/v1/chat/completions"
        print(
            f"axtui gateway benchmark: wrk (-t1), the fake upstreams (bench/upstream.py) and one\n"
            f"`axtui serve` process share this machine's {os.cpu_count()} cores; non-streaming "
            f"requests, recording on (SQLite, {a.recorder or 'default'} recorder), "
            f"{d:g} s per measurement.\n"
            f"gateway pid {self.gateway_pid}; its log and store in {self.tmp}",
            flush=True,
        )
        self.measure("direct", direct0, DIRECT_MODEL, 8, 2, quiet=True)
        warm = self.measure("gateway", gateway, "bench", 8, 3, quiet=True)
        print(f"warm-up: {warm.r.requests:,} gateway requests, {warm.r.failed} errors", flush=True)
        if warm.r.failed or warm.r.requests == 0:
            print(f"the gateway fails requests; see {self.tmp / 'gateway.log'}")
            return 2

        print("\n[1] concurrency 1, 0 ms upstream")
        direct = self.measure("direct", direct0, DIRECT_MODEL, 1, d).r
        via = self.measure("gateway", gateway, "bench", 1, d).r
        for q, target in (("p50", ADDED_P50_MS), ("p99", ADDED_P99_MS)):
            added = via.ms(q) - direct.ms(q)
            self.verdicts.check(f"added latency @c1: {q}", added, target, "ms", upper=True)

        print("\n[2] 20 ms upstream, 20 connections")
        direct = self.measure("direct", direct20, DIRECT_MODEL, 20, d).r
        via = self.measure("gateway", gateway, "bench-20ms", 20, d).r
        ratio = via.rps / direct.rps if direct.rps else 0.0
        self.verdicts.check(
            f"throughput @20ms c20: gateway {via.rps:,.0f} / direct {direct.rps:,.0f} req/s",
            ratio * 100,
            THROUGHPUT_RATIO * 100,
            "%",
            upper=False,
        )

        print("\n[3] saturation, 0 ms upstream (direct: the upstream's own ceiling)")
        self.measure("direct", direct0, DIRECT_MODEL, 64, min(d, 5))
        conns = a.saturation_connections
        best = max(self.measure("gateway", gateway, "bench", c, d).r.rps for c in conns)
        self.verdicts.check(
            "saturation (best of c" + "/c".join(map(str, conns)) + ")",
            best,
            SATURATION_RPS,
            "req/s",
            upper=False,
        )

        self.streaming(direct0, gateway)

        if a.litellm:
            self.litellm(a.litellm, up0, d)

        self.check_records(up0, up20)
        if self.other_max >= BUSY_CORES:
            print(
                f"\nwarning: processes outside the bench used up to {self.other_max:.2f} cores "
                "during a measurement: the machine was not quiet, so figures are pessimistic"
            )
        print()
        return self.verdicts.summary()

    def streaming(self, direct_url: str, gateway_url: str) -> None:
        """Streams one at a time (see bench/streamcase.py).

        The target is read as wrk's plain figures in [1] are: requests back to back. So the
        added time to first chunk is measured against the burst upstream, whose streams end
        at once (no idle time between requests), in blocks of 50, direct and through the
        gateway in turn. Then the same after idle time, beside plain requests after the same
        idle time: an idle process runs its next request about twice as slowly on this VM
        (cold caches), plain or streamed alike, and that shows here rather than being
        charged to streams. Last, the gateway's CPU per chunk relayed (1 ms between words)."""
        n = self.args.streams
        burst_direct = StreamClient(f"{self.burst}/v1/chat/completions", DIRECT_MODEL)
        burst_via = StreamClient(gateway_url, "bench-burst")
        direct = StreamClient(direct_url, DIRECT_MODEL)
        via = StreamClient(gateway_url, "bench")
        print(f"\n[4] streaming, c=1, 0 ms upstream sending a stream's 10 words back to back; "
              f"{n} streams a path")
        hot_d: list[float] = []
        hot_g: list[float] = []
        cold: dict[str, list[float]] = {k: [] for k in ("sd", "sg", "pd", "pg")}
        try:
            for _ in range(20):  # warm every path's connection and the gateway's pool
                for c in (burst_direct, burst_via, direct, via):
                    c.one(10)
            while len(hot_g) < n:
                block = min(50, n - len(hot_g))
                hot_d += [burst_direct.one(10)[0] for _ in range(block)]
                hot_g += [burst_via.one(10)[0] for _ in range(block)]
            for who, xs in (("direct", hot_d), ("gateway", hot_g)):
                print(f"    {who:<8} first chunk p50 {pct(xs, 0.5) * 1e3:6.2f} ms  "
                      f"p99 {pct(xs, 0.99) * 1e3:6.2f} ms")
            for q, target in (("p50", TTFC_P50_MS), ("p99", TTFC_P99_MS)):
                qf = float(q[1:]) / 100
                added = (pct(hot_g, qf) - pct(hot_d, qf)) * 1e3
                self.verdicts.check(f"streaming: added time to first chunk @c1: {q}", added,
                                    target, "ms", upper=True)

            print(f"\n[5] after 10 ms of idle time, c=1: streams of 10 words a word every 1 ms "
                  f"(the idle time is the previous stream), and plain requests after a 10 ms "
                  f"pause; {n // 2} a path (no target: for comparison)")
            for _ in range(n // 100 or 1):
                for _ in range(25):
                    cold["sd"].append(direct.one(10)[0])
                for _ in range(25):
                    cold["sg"].append(via.one(10)[0])
                for _ in range(25):
                    time.sleep(0.010)
                    cold["pd"].append(direct.plain(10))
                for _ in range(25):
                    time.sleep(0.010)
                    cold["pg"].append(via.plain(10))
            for what, d, g in (("stream, first chunk", "sd", "sg"),
                               ("plain, whole answer", "pd", "pg")):
                added50 = (pct(cold[g], 0.5) - pct(cold[d], 0.5)) * 1e3
                added99 = (pct(cold[g], 0.99) - pct(cold[d], 0.99)) * 1e3
                print(f"    {what}: direct p50 {pct(cold[d], 0.5) * 1e3:5.2f} ms, gateway p50 "
                      f"{pct(cold[g], 0.5) * 1e3:5.2f} ms: added p50 {added50:+.2f} ms, "
                      f"p99 {added99:+.2f} ms")

            idle = CpuMeter(self.gateway_pid)  # its own jobs (heartbeat, polls) meanwhile
            idle.start()
            wait_s(2.0)
            idle.stop(1)
            per_stream = {}
            for words in (10, 50):
                cpu = CpuMeter(self.gateway_pid)
                cpu.start()
                for _ in range(n):
                    via.one(words)
                cpu.stop(n)
                per_stream[words] = (cpu.cpu_s - idle.cores() * cpu.wall_s) / n * 1e6
        finally:
            for c in (burst_direct, burst_via, direct, via):
                c.close()
        self.stream_requests = 20 * 2 + n + len(cold["sg"]) + len(cold["pg"]) + 2 * n
        per_chunk = (per_stream[50] - per_stream[10]) / 40
        print(f"    gateway CPU (less its idle {idle.cores() * 100:.1f}% of a core): "
              f"{per_stream[10]:.0f} µs a 10-word stream, {per_stream[50]:.0f} µs a 50-word "
              f"one: {per_chunk:.1f} µs a chunk relayed")

    def check_records(self, up0: str, up20: str) -> None:
        """Every request the gateway handled is one record in the store, nothing lost:
        records == completions the upstreams served for the gateway, and wrk's completed
        count is that, less requests wrk abandoned in flight when each run stopped."""
        completed = sum(r.requests for r in self.gateway_runs) + self.stream_requests
        in_flight_max = sum(r.connections for r in self.gateway_runs)
        # first: the gateway finishes what wrk abandoned, and the last batch lands
        counts = count_records(self.tmp / "bench.db")
        via_gateway = sum(upstream_served(u, MODEL) for u in (up0, up20, self.burst))
        total = counts.get("total", 0)
        by_outcome = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if k != "total")
        print(
            f"\nrecords: {total:,} in the store ({by_outcome}); wrk completed {completed:,} "
            f"gateway requests (at most {in_flight_max} more were in flight when wrk stopped); "
            f"the upstreams served {via_gateway:,} for the gateway"
        )
        ok = total == via_gateway and completed <= total <= completed + in_flight_max
        self.verdicts.record(
            f"recording: {total:,} records for {completed:,} completed (+{total - completed} "
            "in flight at wrk stops)",
            ok,
        )

    def litellm(self, python: str, up0: str, d: float) -> None:
        """LiteLLM's proxy, one worker, beside axtui: its own virtualenv, never ours."""
        port = free_port()
        cfg = self.tmp / "litellm.yaml"
        cfg.write_text(litellm_config(up0))
        cli = Path(python).parent / "litellm"
        self.procs.start(
            "litellm",
            [
                str(cli),
                "--config",
                str(cfg),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--num_workers",
                "1",
            ],
            self.tmp / "litellm.log",
            env={"LITELLM_LOG": "ERROR"},
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health/liveliness", self.procs, 120)
        url = f"{base}/v1/chat/completions"
        print("\n[ref] LiteLLM proxy (one worker), same 0 ms upstream; no targets")
        self.measure("litellm", url, "bench", 8, 3, quiet=True)
        for conns in (1, 32):
            self.measure("litellm", url, "bench", conns, d)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--saturation-connections", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--streams", type=int, default=300,
                    help="streams per path in the streaming case")
    ap.add_argument(
        "--litellm",
        metavar="VENV_PYTHON",
        help="also run LiteLLM's proxy from this virtualenv's python",
    )
    ap.add_argument(
        "--recorder",
        choices=["thread", "process"],
        help="the store's recorder (default: the config default)",
    )
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait up to S seconds until other processes use < 0.2 cores",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, store)")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the finally below stops every process we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    tmp = Path(tempfile.mkdtemp(prefix="axtui-bench-"))
    procs = Processes()
    try:
        return Bench(args, procs, tmp).run()
    except LoadgenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # a process died or never answered: say which, show its log
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if not args.keep:
            procs.remove_dir(tmp)


if __name__ == "__main__":
    sys.exit(main())
