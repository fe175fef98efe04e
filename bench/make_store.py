"""A store of N records over ~30 days of virtual time, for the query and snapshot benches.

    python bench/make_store.py PATH [--n 1000000] [--seed 0]

Records are made as the JSON lines serving writes (checked against RequestRecord) and go
in through the process recorder's own path: `prepare(lines)` then `Store.write_prepared`,
in batches of 20,000, so the raw rows and every rollup level are exactly what the recorder
writes. Traffic has a daily shape, three routes over eight deployments, streams with a
TTFT, ~8% failovers, ~1% failures, ~1% refusals, and a six-hour outage of one deployment.

    from bench.make_store import build_store
    info = build_store("/tmp/s.db", 1_000_000, seed=0)
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
import zlib  # a stable hash: str hash() changes per process, so a seed would not fix keys
from dataclasses import dataclass
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axtui.clock import VIRTUAL_EPOCH  # noqa: E402
from axtui.records import RequestRecord  # noqa: E402
from axtui.store.db import open_store  # noqa: E402
from axtui.store.ingest import prepare, record_json  # noqa: E402

DAYS = 30
BATCH = 20_000  # rows and rollups as the recorder writes them; fewer hour and day upserts
START = VIRTUAL_EPOCH
END = START + DAYS * 86400
ROUTES = {
    "chat-default": ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "groq/llama-3.1-8b"],
    "chat-large": ["openai/gpt-4o", "anthropic/claude-sonnet-4", "gemini/gemini-2.5-pro"],
    "embed-cheap": ["cohere/embed-v4", "mistral/mistral-embed"],
}
ROUTE_WEIGHTS = (0.6, 0.25, 0.15)
# price per token in nano-USD (input, output) and latency median (ms), per deployment
PROFILE = {
    "openai/gpt-4o-mini": (150, 600, 450), "anthropic/claude-3-5-haiku": (800, 4000, 600),
    "groq/llama-3.1-8b": (50, 80, 200), "openai/gpt-4o": (2500, 10000, 900),
    "anthropic/claude-sonnet-4": (3000, 15000, 1100), "gemini/gemini-2.5-pro": (1250, 10000, 1000),
    "cohere/embed-v4": (120, 0, 80), "mistral/mistral-embed": (100, 0, 90),
}
RETRYABLE = ("rate_limited", "server", "timeout", "overloaded")
REFUSALS = ("quota", "budget", "no_candidates")
OUTAGE = ("anthropic/claude-3-5-haiku", START + 12.5 * 86400, START + 12.75 * 86400)


@dataclass(frozen=True)
class StoreInfo:
    path: str
    records: int
    start: float
    end: float
    seconds: float  # to build it

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "cached_prompt_tokens": 0,
            "cache_write_tokens": 0}


def _attempt(deployment, started_at, latency, ttft, kind, usage, cost) -> dict:
    failed = kind is not None
    return {
        "deployment": deployment, "started_at": started_at, "latency_ms": latency,
        "ttft_ms": ttft,
        "status": (429 if kind == "rate_limited" else 503) if failed else 200,
        "error_kind": kind, "error": f"{kind} from upstream" if failed else None,
        "retry_after_s": 1.0 if kind == "rate_limited" else None, "usage": usage,
        "cost_nano": cost, "backoff_ms": 50.0 if failed else 0.0,
    }


def _times(rng: random.Random, n: int) -> list[float]:
    """n start times over DAYS days, busier by day than by night (UTC), ascending."""
    hours = DAYS * 24
    weights = [1.0 + 0.7 * math.sin(2 * math.pi * ((h % 24) - 8) / 24) for h in range(hours)]
    total = sum(weights)
    out: list[float] = []
    for h, w in enumerate(weights):
        k = round(n * w / total) if h < hours - 1 else n - len(out)
        base = START + h * 3600
        out.extend(sorted(base + rng.random() * 3600 for _ in range(max(0, k))))
    return out[:n]


def record_line(rng: random.Random, i: int, t: float) -> bytes:
    """One request as serving would write it (RequestRecord field order)."""
    route = rng.choices(list(ROUTES), ROUTE_WEIGHTS)[0]
    candidates = ROUTES[route]
    stream = route != "embed-cheap" and rng.random() < 0.35
    prompt = rng.randint(20, 3000)
    completion = 0 if route == "embed-cheap" else rng.randint(1, 700)
    user = f"user-{int(rng.paretovariate(1.2)) % 5000}"
    attempts: list[dict] = []
    outcome, error_kind, served, usage, cost = "ok", None, None, None, 0
    elapsed = 0.0
    if rng.random() < 0.01:  # refused before any attempt
        outcome, error_kind = "rejected", rng.choice(REFUSALS)
    else:
        for n, deployment in enumerate(candidates):
            pin, pout, p50 = PROFILE[deployment]
            latency = rng.lognormvariate(math.log(p50), 0.55)
            in_outage = deployment == OUTAGE[0] and OUTAGE[1] <= t < OUTAGE[2]
            fails = in_outage and rng.random() < 0.9 or rng.random() < (0.07 if n == 0 else 0.03)
            if fails:
                kind = "server" if in_outage else rng.choice(RETRYABLE)
                latency = latency * 0.3
                attempts.append(_attempt(deployment, t + elapsed / 1000, latency, None, kind,
                                         None, 0))
                elapsed += latency + 50.0
                continue
            ttft = latency * rng.uniform(0.15, 0.4) if stream else None
            usage = _usage(prompt, completion)
            cost = prompt * pin + completion * pout
            attempts.append(_attempt(deployment, t + elapsed / 1000, latency, ttft, None,
                                     usage, cost))
            elapsed += latency
            served = deployment
            break
        if served is None:
            outcome, error_kind = "failed", attempts[-1]["error_kind"]
    last_ttft = attempts[-1]["ttft_ms"] if served else None
    cheapest = min(PROFILE[d][0] * prompt + PROFILE[d][1] * completion for d in candidates)
    record = {
        "id": f"req-{i:09d}-{rng.getrandbits(32):08x}", "started_at": t,
        "ended_at": t + elapsed / 1000, "route": route, "requested_route": route,
        "user": user, "key_id": f"key-{zlib.crc32(user.encode()) % 40:02d}", "tags": [], "face": None,
        "stream": stream,
        "est_prompt_tokens": prompt, "max_tokens": 1024, "required_caps": [],
        "complexity": None, "content_hash": None, "messages": None, "attempts": attempts,
        "outcome": outcome, "error_kind": error_kind,
        "error": None if outcome == "ok" else f"{error_kind}",
        "status": {"ok": 200, "failed": 502}.get(outcome, 429), "deployment": served,
        "usage": usage, "latency_ms": elapsed, "ttft_ms": None if not stream else last_ttft,
        "cost_nano": cost, "optimal_cost_nano": cheapest if served else None,
        "reason": f"{len(attempts)} attempt(s)", "flags": {}, "cache": None,
        "cache_similarity": None, "kind": "chat", "audio_s": None, "region": None,
    }
    return orjson.dumps(record)


def build_store(path: str | Path, n: int = 1_000_000, seed: int = 0, *,
                progress: bool = False) -> StoreInfo:
    """Write n records into a new SQLite store at `path` (which must not exist)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists: build_store makes a new store")
    rng = random.Random(seed)
    began = time.perf_counter()
    times = _times(rng, n)
    store = open_store(f"sqlite:///{path}")
    try:
        for start in range(0, n, BATCH):
            lines = [record_line(rng, i, times[i]).decode()
                     for i in range(start, min(n, start + BATCH))]
            if start == 0:  # the lines must be what serving writes, byte for byte
                for line in lines[:200]:
                    assert record_json(RequestRecord.model_validate_json(line)) == line
            store.write_prepared(prepare(lines))
            if progress and start % 100_000 == 0:
                print(f"  {start:,} records ...", file=sys.stderr, flush=True)
    finally:
        store.close()
    return StoreInfo(str(path), n, START, END, time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    info = build_store(args.path, args.n, args.seed, progress=True)
    size = Path(info.path).stat().st_size
    print(f"{info.records:,} records in {info.seconds:.1f} s "
          f"({info.records / info.seconds:,.0f}/s); {size / 1e6:,.1f} MB, "
          f"{size * 1_000_000 / info.records / 1e6:,.0f} MB per million records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
