"""Counterfactual replay: every recorded request re-routed through the real engine
(`Engine.complete` / `Engine.stream` on a RuntimeHost in virtual time, as `axtui demo`
runs it) with another config, flag percentages and drains, against simulated providers
fitted per deployment from the trace (fit.py). A deployment the trace never saw runs on its
catalog profile (its config's sim profile, or the default one) and is listed as such."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from axtui.alerts.evaluator import reads_request_rows
from axtui.clock import VirtualClock
from axtui.config import Config, SimProfile
from axtui.heap import parked
from axtui.traces.replay.faithful import SHOWN, AlertTimeline, Moment
from axtui.traces.replay.fit import Fitter
from axtui.traces.replay.pace import Pacer
from axtui.traces.replay.scratch import RollupRecorder
from axtui.traces.replay.tally import Tally


class ReplayInputError(ValueError):
    """A flag, deployment or scenario the config does not know (one line)."""


@dataclass
class Plan:
    config: Config
    fitted: list[str]  # deployments whose profile came from the trace
    catalog: list[str]  # deployments the trace never saw: catalog profile


@dataclass
class Counterfactual(AlertTimeline):
    tally: Tally
    timeline: list[Moment] = field(default_factory=list)
    breaker_trips: int = 0
    cooldowns: int = 0
    sent: int = 0
    late: int = 0  # requests sent after their recorded start (requests.REORDER_S)
    crashed: int = 0
    profiles: dict[str, dict] = field(default_factory=dict)


def load_scenario(path: str | os.PathLike[str]) -> list[dict]:
    """An incident schedule (fixtures/demo_incident.toml's shape): `[[outages]]` with
    `provider` or `deployment`, `start_s`, `end_s` (seconds after the trace starts), `kind`."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ReplayInputError(f"scenario {path}: {e}") from None
    outages = data.get("outages", [])
    if not isinstance(outages, list):
        raise ReplayInputError(f"scenario {path}: outages must be a list of tables")
    for i, o in enumerate(outages):
        if not isinstance(o, dict) or not ({"provider", "deployment"} & o.keys()) \
                or "start_s" not in o or "end_s" not in o:
            raise ReplayInputError(f"scenario {path}: outages[{i}] needs provider or "
                                   "deployment, start_s and end_s")
    return outages


def check_names(config: Config, flags: dict[str, float], drains: list[str]) -> None:
    """Refuse an unknown flag or deployment by name (before any of the trace is read)."""
    for name in flags:
        if name not in config.flags:
            raise ReplayInputError(f"unknown flag {name!r}; flags: "
                                   f"{', '.join(sorted(config.flags)) or '(none)'}")
    deps = [d.id for d in config.deployments]
    for dep in drains:
        if dep not in deps:
            raise ReplayInputError(f"unknown deployment {dep!r}; deployments: "
                                   f"{', '.join(deps)}")


def plan(config: Config, fitter: Fitter, *, seed: int, flags: dict[str, float],
         drains: list[str], scenario: list[dict]) -> Plan:
    """The config the engine runs: every provider simulated, each deployment on its fitted
    profile (or its catalog one), flag percentages set, the scenario's outages added."""
    check_names(config, flags, drains)
    base = {d.id: d.sim or (config.providers[d.provider].sim or SimProfile())
            for d in config.deployments}
    profiles = fitter.profiles(base, seed)
    raw = config.model_dump(by_alias=True, exclude_none=True)
    raw.pop("trace", None)  # the replay writes no trace of its own
    for p in raw["providers"].values():
        if p["protocol"] != "sim":  # never a real upstream: its catalog profile instead
            p["protocol"] = "sim"
            p.pop("api_key_env", None)
            p.pop("base_url", None)
        p["sim"] = {**p.get("sim", {}), "seed": seed}
    fitted, catalog = [], []
    for d in raw["deployments"]:
        dep_id = d.get("name") or f"{d['provider']}/{d['model']}"
        if dep_id in profiles:
            d["sim"] = profiles[dep_id].model_dump()
            fitted.append(dep_id)
        else:
            catalog.append(dep_id)
    for i, o in enumerate(scenario):
        window = {"start_s": o["start_s"], "end_s": o["end_s"], "kind": o.get("kind", "server")}
        hit = False
        for d in raw["deployments"]:
            dep_id = d.get("name") or f"{d['provider']}/{d['model']}"
            if o.get("deployment") == dep_id or o.get("provider") == d["provider"]:
                d.setdefault("sim", dict(raw["providers"][d["provider"]]["sim"]))
                d["sim"]["outages"] = [*d["sim"].get("outages", []), window]
                hit = True
        if o.get("provider") in raw["providers"]:
            prov = raw["providers"][o["provider"]]["sim"]
            prov["outages"] = [*prov.get("outages", []), window]
            hit = True
        if not hit:
            raise ReplayInputError(f"scenario outages[{i}]: no such provider or deployment "
                                   f"{o.get('provider') or o.get('deployment')!r}")
    for name, pct in flags.items():
        raw["flags"][name]["pct"] = pct
    try:
        cfg = Config.model_validate(raw)
    except ValueError as e:
        first = str(e).splitlines()
        raise ReplayInputError(f"the replay's config is invalid: {' '.join(first[:3])}") \
            from None
    return Plan(cfg, fitted, catalog)


# The run allocates a few hundred objects a request and keeps almost none (cycles left at
# the end: ~1 in 2 requests); at the default thresholds collecting them was ~12% of it.
GC_THRESHOLDS = (20_000, 10, 10)


def run(records, the_plan: Plan, *, start: float, workdir: str, seed: int,
        drains: list[str], pacer: Pacer | None = None, store_url: str | None = None
        ) -> Counterfactual:
    """Send `records`' requests (any order: they are re-sorted by arrival) through a
    RuntimeHost on a virtual clock starting at `start`, the trace's first minute."""
    from axtui.engine import control
    from axtui.runtime import RuntimeHost
    from axtui.traces.replay.drive import drive
    from axtui.traces.replay.requests import Late, arrivals

    clock = VirtualClock(start=start)
    cfg = the_plan.config
    url = store_url or f"sqlite:///{workdir}/counterfactual.db"
    # a scratch store (no --store) is read by the alert evaluator alone: no cost folds,
    # and rollups without raw rows (scratch.py), unless a budget per user or key sums rows
    scratch = store_url is None
    rollups_only = scratch and not reads_request_rows(cfg)
    host = RuntimeHost(cfg, face="replay", store_url=url, clock=clock, seed=seed,
                       recorder="thread", heartbeat_s=None, upkeep=not scratch,
                       make_recorder=RollupRecorder if rollups_only else None)
    out = Counterfactual(Tally())
    host.subscribe_records(out.tally.add)
    cooling: set[str] = set()

    def on_event(e) -> None:
        if e.kind != "breaker":
            return
        old, new, reason = e.detail.get("from"), e.detail.get("to"), e.detail.get("reason", "")
        if new == "open" and str(reason).startswith("rate limited"):
            out.cooldowns += 1
            cooling.add(e.subject)
            return
        if e.subject in cooling:
            cooling.discard(e.subject)
            if new == "closed":
                return
        if new == "open":
            out.breaker_trips += 1
        out.timeline.append(Moment(e.ts, "breaker", e.subject, str(old), str(new), str(reason)))

    host.subscribe_events(on_event)

    async def main() -> None:
        await host.start()
        try:
            if pacer is not None:  # inline on the virtual clock: a sleep holds trace time
                host.add_job("replay-pace", 0.1, pacer.pace)
            # The drains are written and applied inline: awaiting a thread (host.drain)
            # lets the virtual clock jump ahead meanwhile, by however long the write took
            # in real time, and the run then starts at a time that differs run to run.
            for dep in drains:
                control.drain(host.store, dep, "replay --drain", "replay")
            if drains:
                host.sync.sync_now()
            late = Late()
            stats = await drive(host, clock, arrivals(records, clock.monotonic(), start, late))
            out.sent, out.crashed, out.late = stats.sent, stats.crashed, late.n
            # one more evaluation after the last answer, as the faithful replay has
            await clock.sleep(cfg.alerting.interval_s)
        finally:
            await host.stop()

    if pacer is not None:
        pacer.pace(start)
    with parked(GC_THRESHOLDS):
        clock.run(main())
    if pacer is not None:
        pacer.finish(clock.now())
    if host.alerts is not None:
        for t in host.alerts.recent:
            if t.to_state in SHOWN or (t.from_state == "pending" and t.to_state == "inactive"):
                out.timeline.append(Moment(t.at, "alert", t.rule.name, t.from_state, t.to_state,
                                           "no data" if t.value is None else f"{t.value:.4g}",
                                           t.rule.severity))
    out.timeline.sort(key=lambda m: m.at)
    out.profiles = {}
    return out
