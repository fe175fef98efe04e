"""The cost of the durable handoff (issue 10): the process recorder's mmap'd ring against the
pipe handoff it replaced, side by side in one run (the old recorder loaded from git).

    python bench/bench_handoff.py [--n 100000] [--rounds 3] [--gateway] [--baseline REV]

  [1] submit(): ns per call on the serving thread, the child draining meanwhile;
  [2] the engine (bench_engine's sim run, virtual clock): requests/s and the engine
      process's CPU per request, recorder off / old handoff / ring;
  [3] with --gateway: two `axtui serve` processes (the old tree exported from git, and this
      one) against one 0 ms fake upstream, wrk at c32, alternating: req/s and CPU/req.
Target: the ring keeps >= 95% of the old handoff's engine and gateway throughput.
`--baseline` defaults to the commit before axtui/store/handoff.py was added. On a busy
machine the rounds move together; read the ratios, and the figures as rough.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_engine import CONCURRENCY, child_cpu_s, cpu_s, run  # noqa: E402
from bench_recorder import make_records  # noqa: E402

from axtui.store.db import open_store  # noqa: E402
from axtui.store.ingest import WRITTEN_COUNTER  # noqa: E402
from axtui.store.process_recorder import ProcessRecorder  # noqa: E402

TARGET_RATIO = 0.95


def baseline_rev(given: str | None) -> str:
    if given:
        return given
    added = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--",
         "axtui/store/handoff.py"], capture_output=True, text=True, check=True).stdout.split()
    if not added:
        raise SystemExit("no commit adds axtui/store/handoff.py: pass --baseline REV")
    return added[-1] + "^"


def export_tree(rev: str, into: Path) -> Path:
    """The old tree's axtui package, as files (git archive: the repo is not touched)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "axtui"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def load_old_recorder(tree: Path, modules: Path) -> type:
    """The old process_recorder.py as its own module (`old_process_recorder`), importing
    the current store below it (recorder.py and ingest.py did not change)."""
    modules.mkdir(parents=True)
    source = (tree / "axtui" / "store" / "process_recorder.py").read_text()
    path = modules / "old_process_recorder.py"
    path.write_text(source)
    sys.path.insert(0, str(modules))  # before any child starts: it imports the module too
    spec = importlib.util.spec_from_file_location("old_process_recorder", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_process_recorder"] = module
    spec.loader.exec_module(module)
    return module.ProcessRecorder


def submit_cost(cls: type, records: list, workdir: Path, tag: str) -> tuple[float, float, int]:
    """The serving process's cost of handing records off: (wall ns per submit() call,
    CPU ns per record of this process, all its threads, until the child has them all
    written), and rows written. CPU is the steadier figure on a busy machine."""
    url = f"sqlite:///{workdir / f'submit-{tag}.db'}"
    recorder = cls(url, queue_max=len(records) + 1)
    recorder.ready(30)
    submit = recorder.submit
    c0 = cpu_s()
    t = time.perf_counter_ns()
    for r in records:
        submit(r)
    wall = (time.perf_counter_ns() - t) / len(records)
    recorder.flush()
    cpu = (cpu_s() - c0) * 1e9 / len(records)
    recorder.close()
    return wall, cpu, recorder.stats().written


def engine(cls: type | None, n: int, workdir: Path, tag: str) -> tuple[float, float, float]:
    """(requests/s, engine CPU µs/request, recorder child CPU µs/request)."""
    recorder = None
    if cls is not None:
        recorder = cls(f"sqlite:///{workdir / f'engine-{tag}.db'}", queue_max=max(100_000, n))
        recorder.ready(30)
    pid = recorder.pid if recorder is not None else None
    c0, k0 = cpu_s(), child_cpu_s(pid)
    elapsed, _ = run(n, CONCURRENCY, recorder)
    cpu = cpu_s() - c0
    child = 0.0
    if recorder is not None:
        recorder.flush()
        k1 = child_cpu_s(pid)
        child = (k1 - k0) if k0 is not None and k1 is not None else float("nan")
        recorder.close()
        store = open_store(f"sqlite:///{workdir / f'engine-{tag}.db'}")
        assert store.counter(WRITTEN_COUNTER) == n, "a record went missing"
        store.close()
    return n / elapsed, cpu / n * 1e6, child / n * 1e6


def gateway(old_tree: Path, tmp: Path, duration: float, rounds: int) -> dict[str, list]:
    from bench_gateway import UPSTREAM_KEY_ENV, gateway_config
    from harness import CpuMeter, Processes, free_port, wait_http
    from loadgen import ensure_wrk, run_wrk

    wrk = ensure_wrk()
    procs = Processes()
    out: dict[str, list] = {"old": [], "ring": []}
    try:
        up = free_port()
        procs.start("upstream", [sys.executable, str(ROOT / "bench" / "upstream.py"), "--port",
                                 str(up), "--latency-ms", "0"], tmp / "upstream.log")
        up_url = f"http://127.0.0.1:{up}"
        wait_http(f"{up_url}/stats", procs, 15)
        gws = {}
        for who, code in (("old", old_tree), ("ring", ROOT)):
            port = free_port()
            db = f"sqlite:///{tmp / f'gw-{who}.db'}"
            cfg = tmp / f"{who}.toml"
            cfg.write_text(gateway_config(up_url, up_url, db))
            pid = procs.start(who, [sys.executable, "-m", "axtui.cli.main", "serve", "--config",
                                    str(cfg), "--listen", f"127.0.0.1:{port}"],
                              tmp / f"gw-{who}.log",
                              env={UPSTREAM_KEY_ENV: "sk-bench", "PYTHONPATH": str(code)})
            gws[who] = (f"http://127.0.0.1:{port}", pid)
            wait_http(f"http://127.0.0.1:{port}/healthz", procs, 60)
        for url, _ in gws.values():  # warm-up
            run_wrk(wrk, f"{url}/v1/chat/completions", "bench", connections=8, duration_s=2)
        for _ in range(rounds):
            for who, (url, pid) in gws.items():
                meter = CpuMeter(pid)
                own0 = child_cpu_s(pid)  # the serving process alone: where the ring's copy is
                meter.start()
                r = run_wrk(wrk, f"{url}/v1/chat/completions", "bench", connections=32,
                            duration_s=duration)
                meter.stop(r.requests)
                own = ((child_cpu_s(pid) or 0.0) - (own0 or 0.0)) / max(1, r.requests) * 1e6
                out[who].append((r.rps, own, meter.per_request_us(), r.failed))
    finally:
        procs.stop_all()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="records / engine requests a round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gateway", action="store_true", help="also [3], wrk against two gateways")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--baseline", help="git revision of the old recorder")
    args = ap.parse_args()
    rev = baseline_rev(args.baseline)
    with tempfile.TemporaryDirectory(prefix="axtui-bench-handoff-") as d:
        tmp = Path(d)
        old_tree = export_tree(rev, tmp / "old")
        kinds = {"old": load_old_recorder(old_tree, tmp / "modules"), "ring": ProcessRecorder}
        print(f"baseline {rev} (pipe handoff every 50 ms) against the ring; "
              f"{args.rounds} alternating rounds, best of each")

        records = make_records(args.n)
        best: dict[str, tuple[float, float]] = {}
        for i in range(args.rounds):
            for who, cls in kinds.items():
                wall, cpu, written = submit_cost(cls, records, tmp, f"{who}{i}")
                assert written == len(records), f"{who}: {written} of {len(records)} written"
                b = best.get(who, (wall, cpu))
                best[who] = (min(b[0], wall), min(b[1], cpu))
        (ow, oc), (rw, rc) = best["old"], best["ring"]
        print(f"[1] handing off {len(records):,} records (mean JSON line ~1 KB):")
        print(f"    serving process CPU per record, all threads: old {oc:,.0f} ns, ring "
              f"{rc:,.0f} ns ({rc - oc:+,.0f} ns)")
        print(f"    wall time per submit() call: old {ow:,.0f} ns, ring {rw:,.0f} ns")

        eng: dict[str, tuple[float, float, float]] = {}
        for i in range(args.rounds):
            for who, cls in {"off": None, **kinds}.items():
                r = engine(cls, args.n, tmp, f"{who}{i}")
                if who not in eng or r[0] > eng[who][0]:
                    eng[who] = r
        print(f"[2] engine, {args.n:,} requests, {CONCURRENCY} concurrent:")
        for who, (rps, cpu, child) in eng.items():
            extra = f", recorder child {child:.1f} µs/req" if who != "off" else ""
            print(f"    {who:5s} {rps:>9,.0f} req/s, engine CPU {cpu:6.1f} µs/req{extra}")
        ratio = eng["ring"][0] / eng["old"][0]
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print(f"    ring / old: {ratio:.1%} (target >= {TARGET_RATIO:.0%}) {verdict}")

        if args.gateway:
            g = gateway(old_tree, tmp, args.duration, args.rounds)
            print(f"[3] axtui serve, wrk c32, 0 ms upstream, {args.duration:g} s a run:")
            for who, runs in g.items():
                rps, own, tree, failed = max(runs)
                print(f"    {who:5s} {rps:>8,.0f} req/s, CPU µs/req: serving process {own:.0f}, "
                      f"with its children {tree:.0f}; errors {failed} "
                      f"(runs: {', '.join(f'{r[0]:,.0f}' for r in runs)})")
            gratio = max(g["ring"])[0] / max(g["old"])[0]
            gverdict = "PASS" if gratio >= TARGET_RATIO else "MISS"
            print(f"    ring / old: {gratio:.1%} (target >= {TARGET_RATIO:.0%}) {gverdict}")
            verdict = "MISS" if "MISS" in (verdict, gverdict) else "PASS"
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
