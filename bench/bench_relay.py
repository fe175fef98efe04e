"""What the gateway adds to one request, plain and streaming, with nothing else running.

    python bench/bench_relay.py [--n 200] [--keep]

Starts `axtui sim serve` (one healthy OpenAI upstream: ttft 20 ms, 30 tokens 5 ms apart,
plain answers after 40 ms) and `axtui serve` over it, then sends `--n` requests one at a
time (c=1), alternating straight to the sim and through the gateway, plain and streaming,
with httpx. Prints p50 and p99 of each and what the gateway adds, beside the target:
  added p99, plain and streaming: <= 5 ms (issue 10's drill target, here without load)
The drill (`axtui drill one_provider_down --baseline 60`) measures the same under c=16 load;
this isolates the relay from the load's contention on a small machine.
Exit code 0 when both pass, 1 when one misses, 2 when the bench cannot run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Processes, Verdicts, free_port, wait_http  # noqa: E402

TARGET_MS = 5.0
SCENARIO = """[scenario]
name = "relay"
duration_s = 3600
seed = 1
[[upstreams]]
name = "up"
protocol = "openai"
model = "gpt-4o-mini"
latency_ms = 40
ttft_ms = 20
chunk_ms = 5
output_tokens = 30
"""
CONFIG = """[store]
url = "sqlite:///{db}"
[providers.up]
protocol = "openai"
base_url = "http://127.0.0.1:{sim}/u/up/v1"
api_key_env = "AXTUI_RELAY_KEY"
[[deployments]]
provider = "up"
model = "gpt-4o-mini"
name = "up"
capabilities = ["streaming"]
context_window = 128000
[routes.chat]
candidates = ["up"]
[metrics]
enabled = false
"""
HELLO = [{"role": "user", "content": "hi"}]


def one(client: httpx.Client, url: str, model: str, stream: bool) -> float:
    body = {"model": model, "messages": HELLO, "stream": stream}
    t = time.perf_counter()
    if stream:
        with client.stream("POST", url, json=body, headers={"authorization": "Bearer x"}) as r:
            r.raise_for_status()
            for _ in r.iter_raw():
                pass
    else:
        client.post(url, json=body, headers={"authorization": "Bearer x"}).raise_for_status()
    return (time.perf_counter() - t) * 1000.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="requests of each kind and path")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, store)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="axtui-bench-relay-"))
    procs, v = Processes(), Verdicts()
    try:
        sim_port, gw_port = free_port(), free_port()
        (tmp / "scenario.toml").write_text(SCENARIO)
        (tmp / "axtui.toml").write_text(CONFIG.format(db=tmp / "relay.db", sim=sim_port))
        axtui = [sys.executable, "-m", "axtui.cli.main"]
        procs.start("sim", axtui + ["sim", "serve", "--scenario", str(tmp / "scenario.toml"),
                                    "--port", str(sim_port)], tmp / "sim.log")
        wait_http(f"http://127.0.0.1:{sim_port}/_sim/state", procs, 30)
        procs.start("gateway", axtui + ["serve", "--config", str(tmp / "axtui.toml"),
                                        "--listen", f"127.0.0.1:{gw_port}"],
                    tmp / "gateway.log", env={**os.environ, "AXTUI_RELAY_KEY": "sk-relay"})
        wait_http(f"http://127.0.0.1:{gw_port}/healthz", procs, 60)
        paths = {"direct": (f"http://127.0.0.1:{sim_port}/u/up/v1/chat/completions",
                            "gpt-4o-mini"),
                 "gateway": (f"http://127.0.0.1:{gw_port}/v1/chat/completions", "chat")}
        print(f"relay: {a.n} requests each, c=1, alternating direct and through the gateway; "
              f"logs in {tmp}", flush=True)
        with httpx.Client(timeout=30) as client:
            for stream in (False, True):
                for path in paths.values():  # warm both connections
                    one(client, *path, stream)
                got: dict[str, list[float]] = {"direct": [], "gateway": []}
                for _ in range(a.n):
                    for name, path in paths.items():
                        got[name].append(one(client, *path, stream))
                kind = "streaming" if stream else "plain"
                d, g = got["direct"], got["gateway"]
                print(f"  {kind}: direct p50 {pct(d, .5):.1f} p99 {pct(d, .99):.1f} ms; "
                      f"gateway p50 {pct(g, .5):.1f} p99 {pct(g, .99):.1f} ms; added p50 "
                      f"{pct(g, .5) - pct(d, .5):+.1f} ms", flush=True)
                v.check(f"added p99, {kind}", pct(g, .99) - pct(d, .99), TARGET_MS, "ms",
                        upper=True)
        procs.check_alive()
        return v.summary()
    except (RuntimeError, httpx.HTTPError) as e:
        print(f"cannot run: {e}")
        return 2
    finally:
        procs.stop_all()
        if not a.keep:
            Processes.remove_dir(tmp)


if __name__ == "__main__":
    sys.exit(main())
