"""`axtui replay`'s core: read a trace, replay it faithfully (always: it is the recorded
side), and counterfactually when asked; the result as one JSON-ready dict whose bytes are
the same for the same trace, config and seed (no wall times, no ids, sorted keys)."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from axtui.config import Config
from axtui.traces.jsonl import plain_size
from axtui.traces.replay.faithful import replay_faithful
from axtui.traces.replay.fit import Fitter
from axtui.traces.replay.source import open_fields

BUNDLED_SUFFIX = ".jsonl.gz"
log = logging.getLogger(__name__)


@dataclass
class ReplayOptions:
    trace: str
    config: Config
    mode: str = "faithful"  # or "counterfactual"
    speed: float | None = None  # virtual seconds per real second; None: as fast as it goes
    flags: dict[str, float] = field(default_factory=dict)
    drains: list[str] = field(default_factory=list)
    scenario: list[dict] = field(default_factory=list)
    seed: int = 7
    store_url: str | None = None  # write the replay here (a console follows it); default temp
    control_dir: str | None = None  # steered by a console through this folder (pace.py)


def bundled_traces() -> list[str]:
    """The names of the traces in fixtures/traces/ (installed as axtui.fixtures)."""
    folder = resources.files("axtui.fixtures").joinpath("traces")
    return sorted(p.name.removesuffix(BUNDLED_SUFFIX) for p in folder.iterdir()
                  if p.name.endswith(BUNDLED_SUFFIX))


def resolve_trace(trace: str) -> str:
    """A path as given, or a bundled trace's name ("provider-outage") as its path."""
    if os.path.exists(trace):
        return trace
    name = trace.removesuffix(BUNDLED_SUFFIX)
    if name in bundled_traces():
        ref = resources.files("axtui.fixtures").joinpath("traces", name + BUNDLED_SUFFIX)
        return str(ref)
    raise FileNotFoundError(f"no trace {trace!r} (not a file, nor a bundled trace: "
                            f"{', '.join(bundled_traces())})")


def replay(opts: ReplayOptions) -> dict:
    """Run the replay; raises FileNotFoundError, TraceSchemaError or ReplayInputError for
    bad input (the CLI turns each into one line and exit code 2)."""
    from axtui.traces.replay.counterfactual import ReplayInputError, check_names, plan, run

    if opts.mode == "counterfactual":
        check_names(opts.config, opts.flags, opts.drains)
    path = resolve_trace(opts.trace)
    # what the file holds now: a trace `serve --trace-out` still appends to is replayed as
    # it was, and the sidecar reads the very same records
    size = plain_size(path)
    stats, records = open_fields(path, size)
    if opts.mode == "counterfactual":
        warm_prices(opts.config)
    with tempfile.TemporaryDirectory(prefix="axtui-replay-") as workdir:
        fitter_box: list[Fitter] = []
        cf = opts.mode == "counterfactual"
        tape = None
        if cf:  # the engine's imports (~0.3 s) only for a counterfactual
            from axtui.traces.replay.requests import Tape

            tape = Tape(os.path.join(workdir, "requests.jsonl"))

        def fit(r: Any) -> None:
            if not fitter_box:
                fitter_box.append(Fitter(r.started_at // 60 * 60))
            fitter_box[0].add(r)
            tape.add(r)  # the second pass's requests

        pacer = _pacer(opts)
        # counterfactual: the recorded side is only measured, at full speed, in a temp store
        try:
            recorded = replay_faithful(records, opts.config, workdir=workdir,
                                       pacer=None if cf else pacer,
                                       store_url=None if cf else opts.store_url,
                                       on_record=fit if cf else None, trace_path=path,
                                       trace_bytes=size)
        finally:
            if tape is not None:
                tape.close()
        if stats.records == 0:
            first = f"; {stats.bad_lines[0]}" if stats.bad_lines else ""
            raise ReplayInputError(f"{path}: no records to replay ({stats.bad_count} bad "
                                   f"lines{first})")
        out = {"mode": opts.mode, "trace": stats.to_dict(),
               "window": {"start": recorded.start, "end": recorded.end,
                          "duration_s": round(recorded.end - recorded.start, 3)},
               "seed": opts.seed}
        rec_side = _side(recorded.tally, recorded.timeline, recorded.start,
                         recorded.alerts_dict(), recorded.breaker_trips, recorded.cooldowns)
        if not cf:
            out.update(rec_side)
            out["evaluations"] = recorded.evaluations
            out["gates"] = recorded.gates
            out["critical_fired"] = recorded.critical_fired
            return out
        fitter = fitter_box[0] if fitter_box else Fitter(recorded.start)
        the_plan = plan(opts.config, fitter, seed=opts.seed, flags=opts.flags,
                        drains=opts.drains, scenario=opts.scenario)
        result = run(tape, the_plan, start=recorded.start, workdir=workdir, seed=opts.seed,
                     drains=opts.drains, pacer=pacer, store_url=opts.store_url)
        cf_side = _side(result.tally, result.timeline, recorded.start, result.alerts_dict(),
                        result.breaker_trips, result.cooldowns)
        out["changes"] = {"flags": dict(sorted(opts.flags.items())),
                          "drains": sorted(opts.drains), "scenario": opts.scenario}
        out["profiles"] = {"fitted": the_plan.fitted, "catalog": the_plan.catalog}
        out["recorded"] = rec_side
        out["counterfactual"] = cf_side
        out["engine_errors"] = result.crashed
        out["late_requests"] = result.late
        out["difference"] = difference(rec_side, cf_side)
        out["critical_fired"] = result.critical_fired
        return out


def warm_prices(config: Config) -> threading.Thread:
    """Load the price catalog (genai-prices' bundled data: ~0.1-0.2 s, the engine's
    start-up cost) in a thread while the recorded side is replayed; its store writer's
    waits leave the thread room. The engine then finds it loaded; its own lookups are
    what count (a failure here is only logged)."""
    def load() -> None:
        from axtui.engine.catalog import Catalog

        try:
            Catalog(config)
        except Exception:  # the engine's own Catalog says what is wrong, in its place
            log.info("price catalog warm-up failed", exc_info=True)

    t = threading.Thread(target=load, name="axtui-replay-prices", daemon=True)
    t.start()
    return t


def _pacer(opts: ReplayOptions):
    from axtui.traces.replay.pace import FilePacer, Pacer

    if opts.control_dir is not None:
        return FilePacer(opts.control_dir, opts.speed)
    return Pacer(opts.speed) if opts.speed else None


def _side(tally, timeline, t0: float, alerts: dict, trips: int, cooldowns: int) -> dict:
    return {"summary": tally.to_dict(), "alerts": alerts,
            "breakers": {"trips": trips, "rate_limit_cooldowns": cooldowns},
            "timeline": [m.to_dict(t0) for m in timeline]}


def _pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return round((b - a) / a * 100.0, 1)


def difference(rec: dict, cf: dict) -> dict:
    """Counterfactual against recorded, as numbers and as one line."""
    r, c = rec["summary"], cf["summary"]
    d = {
        "p95_pct": _pct(r["p95_ms"], c["p95_ms"]),
        "p50_pct": _pct(r["p50_ms"], c["p50_ms"]),
        "cost_pct": _pct(r["cost_nano"], c["cost_nano"]),
        "cost_nano": c["cost_nano"] - r["cost_nano"],
        "failed": c["failed"] - r["failed"],
        "alerts_fired": cf["alerts"]["fired"] - rec["alerts"]["fired"],
        "breaker_trips": cf["breakers"]["trips"] - rec["breakers"]["trips"],
    }
    d["line"] = story(d)
    return d


def _signed_pct(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"+{v:g}%" if v > 0 else (f"\u2212{-v:g}%" if v < 0 else "\u00b10%")


def _count(n: int, what: str) -> str:
    if n == 0:
        return f"same {what}s"
    word = what if abs(n) == 1 else what + "s"
    return f"{abs(n)} {word} {'more' if n > 0 else 'fewer'}"


def story(d: dict) -> str:
    """"p95 +12%, cost −41%, 2 alerts fewer, 30 failed requests fewer"."""
    return ", ".join([f"p95 {_signed_pct(d['p95_pct'])}", f"cost {_signed_pct(d['cost_pct'])}",
                      _count(d["alerts_fired"], "alert"),
                      _count(d["failed"], "failed request"),
                      _count(d["breaker_trips"], "breaker trip")])


