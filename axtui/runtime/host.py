"""The runtime host: the one place that wires an engine to a store, for every face (`axtui
serve`, `axtui demo`, `axtui route`, the console). No HTTP, no UI.

It builds and owns the engine, the recorder (a thread or a child process, per
`store.recorder`), the event writer, the control-plane sync, flag seeding, the heartbeat
(`process_status`), and periodic jobs on the engine's clock (alerts, retention).

Operator state has one path: a change is written to the store's control plane and this
process applies the store's snapshot at once (`write_control`, `drain`, `change_flag`);
other processes follow within a poll. Nothing else sets drains or flags on the engine.

Stop is orderly: sync, jobs and heartbeat stop, the engine closes, queued events are
written, the recorder closes after writing every queued record, the heartbeat row goes,
and the store closes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from axtui.clock import Clock, RealClock, VirtualClock
from axtui.engine import control
from axtui.engine.control import ControlSync, ControlTarget
from axtui.runtime.events import EngineEvent, EventWriter, EventWriterStats
from axtui.runtime.jobs import JobFn, JobStats, PeriodicJob
from axtui.store.process_status import (
    CacheLive,
    ControlSyncLive,
    DeploymentLive,
    LiveState,
    QuotasLive,
    RecorderLive,
    RedisLive,
)

if TYPE_CHECKING:
    from axtui.alerts.evaluator import AlertEvaluator
    from axtui.alerts.notifiers import WebhookNotifier
    from axtui.config import Config
    from axtui.engine.engine import Engine
    from axtui.flags.ops import ChangeResult
    from axtui.fleet.fleet import Fleet
    from axtui.providers.base import Provider
    from axtui.records import RequestRecord
    from axtui.store.db import Store
    from axtui.store.recorder import RecorderStats

log = logging.getLogger(__name__)

T = TypeVar("T")
Face = Literal["serve", "demo", "route", "console", "replay", "agent"]
RETENTION_EVERY_S = 3600.0
COST_FOLD_EVERY_S = 60.0
HEARTBEAT_JOB = "heartbeat"
FLEET_FACES = ("serve", "route", "agent")  # the faces whose requests are the fleet's


@dataclass(frozen=True, slots=True)
class ControlStats:
    version: int  # the control version applied (-1: none yet)
    applied_at: float | None
    errors: int  # failed polls
    last_error: str | None


@dataclass(frozen=True, slots=True)
class HostStats:
    process_id: str
    face: str
    state: str  # new, starting, running, stopping, stopped
    started_at: float | None  # the clock's time
    in_flight: int
    recorder: RecorderStats | None  # None: read-only, nothing is recorded
    events: EventWriterStats | None
    control: ControlStats
    jobs: tuple[JobStats, ...]  # the heartbeat's included
    listener_errors: int  # event subscribers that raised (logged)
    stop_errors: tuple[str, ...]  # steps of stop() that failed (logged); the rest still ran


class RuntimeHost:
    """Build with the config, `await start()` (or `async with`), use `engine`, `await stop()`.

    `read_only` opens the store for its control plane only: no records, events, heartbeat or
    flag seeding are written (`axtui route --no-record`). `recorder` overrides the config's
    choice; an in-memory SQLite store always records from a thread. `providers` and `seed`
    go to the Engine (tests, the demo). `upkeep=False` runs no retention or cost folds (a
    replay's scratch store, read by its alert evaluator alone); `make_recorder(store)`
    builds the recorder instead of the config's (submit, flush, close, stats).
    """

    def __init__(
        self,
        config: Config,
        *,
        face: Face,
        store_url: str | None = None,
        clock: Clock | None = None,
        trace_path: str | Path | None = None,
        read_only: bool = False,
        recorder: Literal["thread", "process"] | None = None,
        providers: Mapping[str, Provider] | None = None,
        seed: int | None = None,
        control_poll_s: float | None = None,
        heartbeat_s: float | None = 1.0,
        event_interval_s: float = 0.25,
        metrics_dir: str | Path | None = None,
        upkeep: bool = True,
        make_recorder: Callable[[Store], Any] | None = None,
    ) -> None:
        self.config = config
        self.face = face
        self.store_url = store_url or config.store.url
        self.clock: Clock = clock or RealClock()
        self.trace_path = trace_path if trace_path is not None else config.trace.path
        self.read_only = read_only
        self.recorder_kind = recorder or config.store.recorder
        self._providers = dict(providers) if providers is not None else None
        self._seed = seed
        self.control_poll_s = control_poll_s or config.gateway.control_poll_s
        self.heartbeat_s = None if read_only else heartbeat_s
        self.event_interval_s = event_interval_s
        self.metrics_dir = metrics_dir  # the recorder counts Prometheus metrics there
        self.upkeep = upkeep  # retention and cost folds (off: a scratch store nobody reads)
        self._make_recorder = make_recorder  # the store's recorder, when not the config's
        self.process_id = f"{face}-{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.state = "new"
        self.started_at: float | None = None
        self.store: Store | None = None
        self.recorder: Any = None  # Recorder | ProcessRecorder
        self.events: EventWriter | None = None
        self.sync: ControlSync | None = None
        self._engine: Engine | None = None
        self.fleet: Fleet | None = None  # [redis]: the engine's counters are the fleet's
        self._jobs: dict[str, PeriodicJob] = {}
        self.alerts: AlertEvaluator | None = None
        self.notifier: WebhookNotifier | None = None
        self._record_subs: list[Callable[[RequestRecord], None]] = []
        self._event_subs: list[Callable[[EngineEvent], None]] = []
        self._control_targets: list[ControlTarget] = []
        self._listener_errors = 0
        self._stop_errors: list[str] = []
        self._beat_written = False
        self._beat_real = -math.inf  # time.monotonic() of the last heartbeat
        self._wall_started = time.time()

    # ------------------------------------------------------------------ lifecycle

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the runtime host is not started")
        return self._engine

    async def start(self) -> None:
        if self.state != "new":
            raise RuntimeError(f"a runtime host starts once (it is {self.state})")
        self.state = "starting"
        try:
            await self._open()
        except BaseException:
            await self.stop()
            raise
        self.state = "running"

    async def _open(self) -> None:
        from axtui.engine.engine import Engine
        from axtui.store.db import open_store

        cfg, clock = self.config, self.clock
        self.store = store = await asyncio.to_thread(open_store, self.store_url, clock=clock)
        if not self.read_only and self._make_recorder is not None:
            self.recorder = self._make_recorder(store)
        elif not self.read_only:
            from axtui.store.process_recorder import make_recorder

            url = store.engine.url
            in_memory = url.get_backend_name() == "sqlite" and url.database in (
                None, "", ":memory:")
            self.recorder = await asyncio.to_thread(
                make_recorder, store, process=self.recorder_kind == "process" and not in_memory,
                flush_interval_s=cfg.store.flush_interval_s, queue_max=cfg.store.queue_max,
                trace_path=self.trace_path, metrics_dir=self.metrics_dir,
                metrics_routes=list(cfg.routes), handoff_dir=cfg.store.handoff_dir,
                handoff_bytes=cfg.store.handoff_mib << 20)
        self._engine = engine = Engine(cfg, clock=clock, providers=self._providers,
                                       seed=self._seed)
        # a fleet: quotas, headroom, breakers, cache via Redis; never for a virtual clock (a
        # replay's or the demo's times and spend are not the fleet's)
        if (cfg.redis.resolved_url() and self.face in FLEET_FACES
                and not isinstance(clock, VirtualClock)):
            from axtui.fleet.fleet import attach

            self.fleet = attach(engine, cfg.redis, origin=self.process_id)
            self.add_job("fleet-redis", cfg.redis.poll_s, self.fleet.poll, run_at_start=True)
        self.started_at = clock.now()
        self._wall_started = time.time()
        if not self.read_only:
            from axtui.flags.ops import seed as seed_flags

            # the config's flags into the control plane, unless the store already has them
            # (operator state survives restarts)
            await asyncio.to_thread(seed_flags, store, cfg, now=clock.now())
            self.events = EventWriter(store, interval_s=self.event_interval_s,
                                      inline=isinstance(clock, VirtualClock))
            engine.on_record(self.recorder.submit)
        for fn in self._record_subs:
            engine.on_record(fn)
        engine.on_event(self._on_engine_event)
        self.sync = ControlSync(self, store, interval_s=self.control_poll_s,
                                virtual_time=isinstance(clock, VirtualClock))
        # LISTEN lost (a warning) or back (info), in the event log like any engine event
        self.sync.on_mode_change = (
            lambda detail: self._on_engine_event("control_sync", self.process_id, detail))
        await self.sync.refresh()  # drains, kills and rollouts apply before the first request
        self.sync.start(sync_first=False)
        if self.events is not None:
            self.events.start()
        if not self.read_only and self.face != "route":  # a one-shot request evaluates nothing
            self._start_alerts(store, engine)
            if self.upkeep:
                self._start_upkeep(store)
        if self.heartbeat_s:
            beat = PeriodicJob(HEARTBEAT_JOB, self.heartbeat_s, self._beat, clock)
            self._jobs[HEARTBEAT_JOB] = beat
            await beat.run_once()  # the row exists once start() returns
        for job in self._jobs.values():
            job.start()

    def _start_alerts(self, store: Store, engine: Engine) -> None:
        """The alert evaluator as a job on the engine's clock, with the config's webhooks.
        In virtual time the recorder is flushed before each evaluation, so the rules see
        the records of the virtual time they evaluate."""
        from axtui.alerts.evaluator import AlertEvaluator
        from axtui.alerts.notifiers import WebhookNotifier

        cfg = self.config
        self.notifier = WebhookNotifier.from_config(cfg.alerting, store)
        flush = self.recorder.flush if isinstance(self.clock, VirtualClock) else None
        self.alerts = AlertEvaluator.from_config(store, cfg, self.clock, engine=engine,
                                                 notifier=self.notifier, before_evaluate=flush)
        if self.alerts.rules:
            self.add_job("alerts", cfg.alerting.interval_s, self.alerts.evaluate)

    async def before_reload(self, config: Config) -> None:
        """A reload's first step, before the engine routes by `config`: the recorder (in
        its child process too) learns the new routes, so their requests are counted under
        their own route label in /metrics, not as "(unknown)"."""
        add = getattr(self.recorder, "add_metrics_routes", None)
        if add is None or self.metrics_dir is None:
            return
        if not await asyncio.to_thread(add, list(config.routes)):
            log.warning("config reload: the recorder did not take the new routes (see its "
                        "stats); their requests count as route \"(unknown)\" in /metrics")

    def after_reload(self, config: Config) -> None:
        """A reload's last step, once the engine routes by `config`: the alert evaluator
        judges by its [[alerts]], budgets and SLOs from its next evaluation (the job starts
        now if the running config had no rule to evaluate)."""
        ev = self.alerts
        if ev is None:
            return
        ev.reconfigure(config)
        if ev.rules and "alerts" not in self._jobs:
            self.add_job("alerts", config.alerting.interval_s, ev.evaluate)

    def _start_upkeep(self, store: Store) -> None:
        """The store's upkeep: retention (raw rows and each rollup level past its age) and
        the cost folds (spend by user, key and complexity into hour and day rows, so the
        costs views stay fast). Both are safe with several hosts on one store."""
        from axtui import costs
        from axtui.store.retention import prune

        policy = self.config.retention

        def retention(now: float) -> None:
            prune(store, now, policy)
            costs.prune(store, now, policy)

        self.add_job("retention", RETENTION_EVERY_S, retention)
        self.add_job("cost-fold", COST_FOLD_EVERY_S, lambda now: costs.fold(store))

    async def stop(self) -> None:
        """Orderly stop; safe to call twice, and after a failed start."""
        if self.state in ("stopping", "stopped"):
            return
        self.state = "stopping"
        if self.sync is not None:
            await self._step("control sync", self.sync.stop())
        for job in self._jobs.values():
            await self._step(f"job {job.name}", job.stop())
        if self.notifier is not None:  # delivers what is queued, up to its timeout
            await self._step("alert notifier", asyncio.to_thread(self.notifier.close))
        if self._engine is not None:
            await self._step("engine", self._engine.aclose())
        if self.fleet is not None:
            await self._step("redis", self.fleet.aclose())
        if self.events is not None:
            await self._step("event writer", self.events.stop())
        if self.recorder is not None:  # writes every queued record before it returns
            await self._step("recorder", asyncio.to_thread(self.recorder.close))
        if self.store is not None:
            if self._beat_written:
                await self._step("heartbeat row", asyncio.to_thread(self._remove_beat))
            await self._step("store", asyncio.to_thread(self.store.close))
        self.state = "stopped"

    async def _step(self, what: str, aw: Any) -> None:
        try:
            await aw
        except Exception as e:  # one failing step must not leave the rest open
            self._stop_errors.append(f"{what}: {type(e).__name__}: {e}")
            log.exception("runtime host stop: %s failed", what)

    async def __aenter__(self) -> RuntimeHost:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ operator state

    def apply_control(self, snapshot: Any) -> None:
        """ControlSync's target: the engine, then every face's own (e.g. caller keys)."""
        self.engine.apply_control(snapshot)
        for target in self._control_targets:
            target.apply_control(snapshot)

    def add_control_target(self, target: ControlTarget) -> None:
        """Something else that follows the control plane (the gateway's key ring). Add it
        before start() so it sees the initial state too."""
        self._control_targets.append(target)

    async def write_control(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        """Run a control-plane write `fn(store, *args, **kw)` off the loop (engine.control.
        drain, flags.ops.change, ...), then apply the store's state here at once; other
        processes follow within one poll. The write's own errors propagate."""
        result = await asyncio.to_thread(fn, self._store(), *args, **kw)
        await self.refresh_control()
        return result

    async def refresh_control(self) -> bool:
        """Apply the store's control state now (False if it had not moved, or the read
        failed: counted in stats().control, logged; the next poll retries)."""
        sync = self.sync
        if sync is None:
            raise RuntimeError("the runtime host is not started")
        try:
            return await sync.refresh()
        except Exception as e:  # the write landed; the next poll applies it
            sync.errors += 1
            sync.last_error = f"{type(e).__name__}: {e}"
            log.warning("control plane refresh failed: %s", sync.last_error)
            return False

    async def drain(self, deployment: str, reason: str, by: str) -> int:
        """Take `deployment` out of every route of every engine sharing the store."""
        self._known(deployment)
        return await self.write_control(control.drain, deployment, reason, by)

    async def undrain(self, deployment: str, by: str) -> bool:
        self._known(deployment)
        return await self.write_control(control.undrain, deployment, by)

    async def change_flag(self, name: str, **kw: Any) -> ChangeResult:
        """flags.ops.change (rollout, advance, kill, revive, ...; its guardrails and errors),
        applied here at once."""
        from axtui.flags.ops import change

        return await self.write_control(change, name, **kw)

    def _known(self, deployment: str) -> None:
        if deployment not in self.engine.deployments:
            raise ValueError(f"unknown deployment {deployment!r}; deployments: "
                             f"{', '.join(self.engine.deployments)}")

    def _store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the runtime host is not started")
        return self.store

    # ------------------------------------------------------------------ faces subscribe

    def subscribe_records(self, fn: Callable[[RequestRecord], None]) -> Callable[[], None]:
        """Call `fn(record)` with every finished record, on the engine's loop: it must not
        block (hand off to a queue). Returns a function that unsubscribes."""
        self._record_subs.append(fn)
        if self._engine is not None:
            self._engine.on_record(fn)

        def unsubscribe() -> None:
            if fn in self._record_subs:
                self._record_subs.remove(fn)
            if self._engine is not None:
                self._engine.off_record(fn)

        return unsubscribe

    def subscribe_events(self, fn: Callable[[EngineEvent], None]) -> Callable[[], None]:
        """Call `fn(event)` with every engine event, on the engine's loop; must not block."""
        self._event_subs.append(fn)

        def unsubscribe() -> None:
            if fn in self._event_subs:
                self._event_subs.remove(fn)

        return unsubscribe

    def _on_engine_event(self, kind: str, subject: str, detail: dict) -> None:
        event = EngineEvent(kind, subject, detail, self.clock.now())
        if self.events is not None:
            self.events(event)
        for fn in tuple(self._event_subs):
            try:
                fn(event)
            except Exception:  # a face's listener must never break routing
                self._listener_errors += 1
                log.exception("event subscriber failed")

    # ------------------------------------------------------------------ periodic jobs

    def add_job(self, name: str, interval_s: float, fn: JobFn, *,
                run_at_start: bool = False) -> PeriodicJob:
        """Run `fn(now)` every `interval_s` of the host's clock until stop(): a plain
        function in a worker thread (it may block: store reads and writes), a coroutine
        function on the loop. Failures are counted and logged, never fatal."""
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} already runs on this host")
        job = PeriodicJob(name, interval_s, fn, self.clock, run_at_start=run_at_start)
        self._jobs[name] = job
        if self.state == "running":
            job.start()
        return job

    # ------------------------------------------------------------------ live state

    def live_state(self, quotas: dict | None = None) -> LiveState:
        """What this engine sees right now (read on the loop; cheap); `quotas`: its quota
        report (`quota_report`), which the heartbeat reads first."""
        eng = self.engine
        deployments = tuple(
            DeploymentLive(
                deployment=dep, breaker=str(st.breaker.state), open_until=st.breaker.open_until,
                headroom=st.headroom.fraction_left(), cooldown_until=st.headroom.cooldown_until,
                in_flight=st.health.in_flight, drained=st.drained is not None,
                drained_reason=st.drained)
            for dep, st in eng.deployments.items())
        rec = None
        if self.recorder is not None:
            s = self.recorder.stats()
            rec = RecorderLive(written=s.written, dropped=s.dropped, queued=s.queued)
        unservable = {r: why for r, why in eng.route_readiness().items() if why}
        cache = ({r: CacheLive.model_validate(s) for r, s in eng.cache.stats().items()}
                 if eng.cache is not None else {})
        redis = RedisLive.model_validate(self.fleet.status()) if self.fleet else None
        sync = (ControlSyncLive.model_validate(self.sync.status())
                if self.sync is not None else None)
        return LiveState(in_flight=eng.in_flight, deployments=deployments, recorder=rec,
                         unservable=unservable, cache=cache, redis=redis, control_sync=sync,
                         quotas=QuotasLive.model_validate(quotas) if quotas is not None
                         else None)

    async def quota_report(self) -> dict:
        """Every configured caller quota and where its busiest callers stand: the fleet's
        counters (one Redis round trip) when they are shared, else this engine's."""
        shared = self.fleet.quotas if self.fleet is not None else None
        if shared is not None:
            return await shared.report()
        return self.engine.quotas.report()

    async def publish_status(self) -> None:
        """Write this host's heartbeat row now (the heartbeat job calls it every
        `heartbeat_s`). Its times are wall time whatever the engine's clock: a heartbeat
        says that a process is alive."""
        live = self.live_state(await self.quota_report())
        self._beat_real = time.monotonic()
        if isinstance(self.clock, VirtualClock):  # virtual time stands still meanwhile
            self._write_beat(live)
        else:
            await asyncio.to_thread(self._write_beat, live)

    async def _beat(self, now: float) -> None:
        # on a virtual clock the job ticks every virtual `heartbeat_s`, which can be many
        # times a real second: publish at the real pace only
        if time.monotonic() - self._beat_real >= 0.9 * (self.heartbeat_s or 0.0):
            await self.publish_status()

    def _write_beat(self, live: LiveState) -> None:
        from axtui.store.process_status import remove_gone, write_process_status

        now = time.time()
        with self._store().begin() as conn:
            if not self._beat_written:  # the first beat clears rows of processes long dead
                remove_gone(conn, now)
            write_process_status(conn, process_id=self.process_id, face=self.face,
                                 host=socket.gethostname(), pid=os.getpid(),
                                 started_at=self._wall_started, updated_at=now, live=live)
        self._beat_written = True

    def _remove_beat(self) -> None:
        from axtui.store.process_status import delete_process_status

        with self._store().begin() as conn:
            delete_process_status(conn, self.process_id)

    def stats(self) -> HostStats:
        sync = self.sync
        return HostStats(
            process_id=self.process_id, face=self.face, state=self.state,
            started_at=self.started_at,
            in_flight=self._engine.in_flight if self._engine is not None else 0,
            recorder=self.recorder.stats() if self.recorder is not None else None,
            events=self.events.stats() if self.events is not None else None,
            control=ControlStats(sync.version, sync.applied_at, sync.errors, sync.last_error)
            if sync is not None else ControlStats(-1, None, 0, None),
            jobs=tuple(j.stats() for j in self._jobs.values()),
            listener_errors=self._listener_errors, stop_errors=tuple(self._stop_errors))
