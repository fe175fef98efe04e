"""One drill, start to end: the scenario's simulated upstreams (`axtui sim serve`, a child
process), a gateway (`axtui serve`, another child) on a scratch SQLite store with a config
made from the scenario, paced load from this process through the openai SDK, then the
gateway stopped (SIGTERM: it writes every queued record) and its store read back.

Three processes, so the gateway's latency is measured from outside it, as a caller sees it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import orjson

from axtui.drill import processes
from axtui.drill.gateway_config import KEY_ENV, ROUTE, gateway_table, to_toml
from axtui.drill.load import LoadPlan, LoadResult, run_load
from axtui.drill.report import FaultWindow, Observed, StoredRecord, build_report

log = logging.getLogger(__name__)

GATEWAY_GRACE_S = 10.0


@dataclass(frozen=True, slots=True)
class DrillOptions:
    seed: int | None = None  # None: the scenario's
    duration_s: float | None = None  # None: the scenario's
    keep_dir: Path | None = None  # keep the scratch store, config and logs here
    kill_at_s: float | None = None  # SIGKILL the gateway this long into the load
    rps: float | None = None  # None: the scenario's
    strategy: str = "priority"  # the route's (axtui.config.Strategy)
    baseline_s: float = 0.0  # first, this long of the same load straight to the sim
    alert_interval_s: float = 1.0  # the gateway's alert evaluations (in its own process)


def plan_for(scenario: Any, opts: DrillOptions) -> LoadPlan:
    ld = scenario.load
    return LoadPlan(rps=opts.rps or ld.rps, concurrency=ld.concurrency,
                    stream_share=ld.stream_share,
                    duration_s=opts.duration_s or scenario.scenario.duration_s,
                    seed=scenario.scenario.seed if opts.seed is None else opts.seed,
                    model=ROUTE)


class Upstreams(Protocol):
    """Where the scenario's upstreams run: `axtui sim serve` (SimClient) in a drill."""

    def upstream_urls(self) -> dict[str, str]: ...
    async def restart(self) -> float: ...  # restart the scenario clock: the wall time
    async def calls_by_second(self) -> dict[str, dict[int, int]]: ...  # scenario clock
    async def clear_faults(self) -> None: ...  # until the next restart
    def stop(self) -> None: ...


def run_drill(scenario: Any, opts: DrillOptions = DrillOptions(),
              upstreams: Callable[[Path, int], Upstreams] | None = None) -> dict[str, Any]:
    """Run the rehearsal and return its report (axtui.drill.report.build_report).
    `upstreams(work_dir, seed)` starts the upstreams (default: `axtui sim serve`)."""
    plan = plan_for(scenario, opts)
    if upstreams is None:
        from axtui.drill.sim_client import SimClient

        def upstreams(work: Path, seed: int) -> Upstreams:
            return SimClient.start(scenario, work, seed=seed)

    if opts.keep_dir is not None:
        opts.keep_dir.mkdir(parents=True, exist_ok=True)
        for old in opts.keep_dir.glob("drill.db*"):  # a scratch store starts empty
            old.unlink()
        return _run(scenario, plan, opts.keep_dir, upstreams, opts)
    with tempfile.TemporaryDirectory(prefix="axtui-drill-") as tmp:
        return _run(scenario, plan, Path(tmp), upstreams, opts)


def _run(scenario: Any, plan: LoadPlan, work: Path,
         upstreams: Callable[[Path, int], Upstreams], opts: DrillOptions) -> dict[str, Any]:
    from axtui.config import parse_config

    sim = upstreams(work, plan.seed)
    gateway = None
    obs = Observed()
    try:
        store_path = work / "drill.db"
        cfg = gateway_table(scenario, sim.upstream_urls(), f"sqlite:///{store_path}",
                            opts.strategy, alert_interval_s=opts.alert_interval_s)
        parse_config(cfg, "the drill's gateway config")  # a ConfigError here is our bug
        config_path = work / "gateway.toml"
        config_path.write_text(to_toml(cfg))
        gateway = processes.start(
            "axtui serve", ["serve", "--config", str(config_path), "--listen", "127.0.0.1:0",
                            "--grace", str(GATEWAY_GRACE_S)],
            work / "gateway.log", announce="axtui serve: ", env={KEY_ENV: "drill-key"})
        processes.wait_ready(gateway, "/readyz")
        if opts.baseline_s > 0:
            obs.baseline = _baseline(scenario, sim, plan, opts.baseline_s)
        kill = None if opts.kill_at_s is None else (opts.kill_at_s, gateway.kill)
        load, sim_t0 = asyncio.run(_drive(gateway.base_url + "/v1", plan, sim, obs, kill))
        if opts.kill_at_s is None:
            faulted = {f.upstream for f in scenario.faults if f.start_s < plan.duration_s}
            _await_alerts(store_path, faulted, 2 * opts.alert_interval_s + 1.0)
    finally:
        if gateway is not None:
            obs.gateway_exit = gateway.stop(GATEWAY_GRACE_S + 10)
            # its recorder child writes what it holds after the gateway is gone (kill -9)
            obs.leftover_processes = gateway.wait_group(GATEWAY_GRACE_S)
        sim.stop()
    t0 = load.started_at
    if obs.killed_at_s is not None:
        obs.killed_at_s -= t0
    _read_store(store_path, obs, t0)
    offset = sim_t0 - t0  # the scenario clock started this long after the first request
    obs.upstream_offset_s = offset
    faults = [FaultWindow(f.upstream, f.kind, max(0.0, f.start_s + offset),
                          min(plan.duration_s, f.end_s or plan.duration_s) + offset)
              for f in scenario.faults if f.start_s < plan.duration_s]
    info = {"name": scenario.name, "path": scenario.source,
            "description": scenario.scenario.description,
            "upstreams": [u.name for u in scenario.upstreams], "route_strategy": opts.strategy,
            "alert_interval_s": opts.alert_interval_s}
    targets = scenario.targets.model_dump()
    return build_report(scenario=info, load=load, obs=obs, faults=faults, targets=targets)


def _baseline(scenario: Any, sim: Upstreams, plan: LoadPlan, seconds: float
              ) -> LoadResult | None:
    """The same client and load straight to the first OpenAI-speaking upstream, faults
    cleared: what callers would see without a gateway (None: no such upstream)."""
    first = next((u for u in scenario.upstreams if u.protocol == "openai"), None)
    if first is None:
        return None
    direct = replace(plan, duration_s=seconds, model=first.model)

    async def run() -> LoadResult:
        await sim.clear_faults()  # the main run's restart brings them back
        return await run_load(sim.upstream_urls()[first.name], direct)

    return asyncio.run(run())


async def _drive(base_url: str, plan: LoadPlan, sim: Upstreams, obs: Observed,
                 kill: tuple[float, Callable[[], None]] | None) -> tuple[LoadResult, float]:
    """Restart the scenario clock just before the first request, run the load (killing the
    gateway `kill[0]` seconds in, if asked), then read the upstreams' calls per second."""
    started: dict[str, float] = {}

    def kill_gateway() -> None:
        obs.killed_at_s = time.time()
        kill[1]()

    async def restart_scenario() -> None:
        started["sim"] = await sim.restart()
        if kill is not None:
            asyncio.get_running_loop().call_later(kill[0], kill_gateway)

    load = await run_load(base_url, plan, at_start=restart_scenario)
    try:
        obs.upstream_by_second = await sim.calls_by_second()
    except Exception as e:  # the load's figures still stand; the report says what is missing
        obs.upstream_error = f"{type(e).__name__}: {e}"
        log.warning("upstream call counts not read: %s", obs.upstream_error)
    return load, started["sim"]


def _await_alerts(path: Path, upstreams: set[str], within_s: float) -> None:
    """Keep the gateway up after the load until an alert has fired for each faulted
    upstream, or `within_s` passed: a fault starting near the load's end would otherwise
    be cut off before the next evaluation, and its fault-to-alert time go missing."""
    if not upstreams:
        return
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            seen = {(orjson.loads(d).get("labels") or {}).get("deployment") for (d,) in
                    db.execute("SELECT detail FROM event WHERE kind = 'alert.firing'")}
        except sqlite3.Error as e:  # busy or not there yet: ask again
            log.debug("alert events not read yet: %s", e)
            seen = set()
        finally:
            db.close()
        if upstreams <= seen:
            return
        time.sleep(0.2)  # the gateway writes its events every 0.25 s


def _read_store(path: Path, obs: Observed, t0: float) -> None:
    """Records, breaker openings and alert firings from the stopped gateway's store;
    times become seconds after the load started."""
    db = sqlite3.connect(path)  # read-write: a killed gateway may leave a WAL to recover
    try:
        for rid, outcome, status, attempts, deployment, record in db.execute(
                "SELECT id, outcome, status, attempts_n, deployment, record FROM request"):
            obs.records[rid] = StoredRecord(rid, outcome, status, attempts,
                                            _serving_latency(orjson.loads(record), deployment))
        for ts, kind, subject, detail in db.execute(
                "SELECT ts, kind, subject, detail FROM event WHERE kind IN "
                "('breaker', 'alert.firing') ORDER BY ts"):
            d = orjson.loads(detail)
            if kind == "breaker" and d.get("to") == "open":
                obs.breaker_opens.append((ts - t0, subject))
            elif kind == "alert.firing":
                obs.alert_firings.append((ts - t0, subject,
                                          (d.get("labels") or {}).get("deployment")))
    finally:
        db.close()


def _serving_latency(record: dict[str, Any], deployment: str | None) -> float | None:
    for a in reversed(record.get("attempts") or []):
        if a.get("deployment") == deployment and a.get("error_kind") is None:
            return a.get("latency_ms")
    return None
