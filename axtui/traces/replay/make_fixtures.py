"""The bundled traces in fixtures/traces/, each made by this command with a fixed seed:

    python -m axtui.traces.replay.make_fixtures [OUT_DIR]   (default: fixtures/traces)

Each is the bundled demo config's traffic (`axtui demo`'s route mix) on a virtual clock
starting 2026-01-01T00:00Z, through simulated providers, with one change per scenario:

- normal-day: no outage at all (the demo's mistral outage removed), 40 minutes;
- provider-outage: openai (gpt-4o-mini leads the chat route) answers every call with a
  500 from minute 10 to minute 20 of 40;
- rate-limit-storm: groq and gemini answer 429 from minute 8 to minute 18 of 30, so the
  free-first and latency routes lean on openai.

Records are written in completion order, gzip with a fixed mtime, after the header
`{"axtui_trace": 1, "scenario": ..., "seed": ..., "made_by": ...}`. Record ids carry a random
per-process prefix, so a re-made trace differs from the bundled one in its ids only.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path

SEED = 11
MIX = {"chat": 0.6, "chat-fast": 0.15, "chat-free": 0.1, "chat-large": 0.1,
       "chat-long": 0.05, "chat-eu": 0.1}


def _outages(**by_provider: list[dict]):
    def change(raw: dict) -> None:
        for p in raw["providers"].values():
            if p.get("sim"):
                p["sim"]["outages"] = []
        for name, windows in by_provider.items():
            raw["providers"][name]["sim"]["outages"] = windows
    return change


SCENARIOS = {
    "normal-day": (2400.0, 2.0, _outages()),
    "provider-outage": (2400.0, 2.0, _outages(
        openai=[{"start_s": 600, "end_s": 1200, "kind": "server"}])),
    "rate-limit-storm": (1800.0, 2.5, _outages(
        groq=[{"start_s": 480, "end_s": 1080, "kind": "rate_limited"}],
        gemini=[{"start_s": 480, "end_s": 1080, "kind": "rate_limited"}])),
}


def scenario_config(name: str):
    """The demo config with scenario `name`'s change."""
    from axtui.config import Config, load_config

    raw = load_config().model_dump(by_alias=True, exclude_none=True)
    raw.pop("trace", None)  # the records go to the fixture, nowhere else
    SCENARIOS[name][2](raw)
    return Config.model_validate(raw)


def make(name: str, out: Path, seed: int = SEED) -> int:
    """Write scenario `name` to `out`; returns the records written."""
    from axtui.clock import VIRTUAL_EPOCH, VirtualClock
    from axtui.runtime import RuntimeHost
    from axtui.traces.jsonl import header_line
    from axtui.traces.replay.drive import drive
    from axtui.traces.synthetic import traffic

    duration, rate, _ = SCENARIOS[name]
    cfg = scenario_config(name)
    n = int(duration * rate)
    clock = VirtualClock(start=VIRTUAL_EPOCH)
    lines: list[bytes] = [header_line(
        scenario=name, seed=seed, requests=n,
        made_by=f"python -m axtui.traces.replay.make_fixtures (scenario {name})").encode()]
    with tempfile.TemporaryDirectory() as tmp:
        host = RuntimeHost(cfg, face="demo", store_url=f"sqlite:///{tmp}/make.db", clock=clock,
                           seed=seed, recorder="thread", heartbeat_s=None)
        host.subscribe_records(lambda r: lines.append(r.model_dump_json().encode()))

        async def main() -> None:
            await host.start()
            try:
                arrivals = ((a.at_s, a.request, a.ctx) for a in
                            traffic(n, routes=MIX, rate_per_s=rate, seed=seed))
                await drive(host, clock, arrivals)
            finally:
                await host.stop()

        clock.run(main())
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(b"\n".join(lines) + b"\n")
    return len(lines) - 1


def main(argv: list[str]) -> None:
    out_dir = Path(argv[0]) if argv else Path("fixtures/traces")
    for name in SCENARIOS:
        path = out_dir / f"{name}.jsonl.gz"
        n = make(name, path)
        print(f"{path}: {n} records, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
