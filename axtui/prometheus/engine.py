"""Engine gauges: breaker state, headroom, in-flight, drains, flags, firing alerts.

Read from the engine's state, never on a request's path: `publish()` runs on the event loop
every `[metrics] publish_s` and once more right before a scrape, writing this process's
view to its live-gauge files. The modes say how processes sharing the directory combine:
in-flight and breaker states add up (`livesum`), headroom takes the tightest (`livemin`),
drains, flags and alerts the highest (`livemax`). A stopped process's gauges leave with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from axtui.engine.health import BreakerState
from axtui.prometheus.files import MetricFiles, Value

# (name, help, label names, multiprocess mode)
BREAKER = ("axtui_breaker_state", "Gateway processes whose breaker for the deployment is in "
           "this state (one process: 1 for its state, 0 for the others).",
           ("deployment", "state"), "livesum")
HEADROOM = ("axtui_headroom_ratio", "Rate-limit headroom left, 0-1, the tightest window "
            "(0 while a 429 cools down); the lowest across processes.", ("deployment",),
            "livemin")
INFLIGHT_ATTEMPTS = ("axtui_inflight_attempts", "Calls to the deployment in progress.",
                     ("deployment",), "livesum")
INFLIGHT_REQUESTS = ("axtui_inflight_requests", "Requests in progress.", (), "livesum")
DRAINED = ("axtui_deployment_drained", "1 while an operator has drained the deployment.",
           ("deployment",), "livemax")
FLAG_RATIO = ("axtui_flag_rollout_ratio", "Share of traffic a flag's cohort gets, 0-1, as "
              "routed (kill, disable and env override applied).", ("flag",), "livemax")
FLAG_KILLED = ("axtui_flag_killed", "1 while a flag's kill switch is on.", ("flag",),
               "livemax")
ALERTS = ("axtui_alerts_firing", "Alerts firing, by rule name and severity.",
          ("alertname", "severity"), "livemax")

RECORDER_WRITTEN = ("axtui_recorder_written", "Records the recorder committed to the store.",
                    ())
RECORDER_DROPPED = ("axtui_recorder_dropped", "Records the recorder will never store (refused "
                    "when full, or failed after retries): not in the request metrics either.",
                    ())
RECORDER_QUEUED = ("axtui_recorder_queued", "Records waiting to be written.", (), "livesum")

# What `firing_alerts` returns: (rule name, severity) -> how many alerts of it fire.
FiringAlerts = Callable[[], Mapping[tuple[str, str], int]]
_STATES = tuple(s.value for s in BreakerState)


class EngineGauges:
    """Publishes one engine's gauges into the multiprocess directory `path`."""

    def __init__(self, engine: Any, path: str | Path, recorder: Any = None) -> None:
        self.engine = engine
        self.recorder = recorder  # its stats() too, when given
        self.files = MetricFiles.acquire(path)
        self._values: dict[tuple, Value] = {}
        self._alert_labels: set[tuple[str, str]] = set()

    def close(self) -> None:
        """This process stops: its live gauges leave the directory."""
        self.files.release(dead=True)

    def _set(self, spec: tuple, labels: tuple, value: float) -> None:
        v = self._values.get((spec, labels))
        if v is None:
            name, help_text, names, mode = spec
            v = self._values[(spec, labels)] = self.files.value(
                "gauge", name, name, names, labels, help_text, mode)
        if v.value != value:
            v.set(value)

    def _count(self, spec: tuple, total: int) -> None:
        """A counter this process keeps itself (a monotonic total): its file holds it."""
        v = self._values.get((spec, ()))
        if v is None:
            name, help_text, names = spec
            v = self._values[(spec, ())] = self.files.value(
                "counter", name, name + "_total", names, (), help_text)
        if v.value != total:
            v.set(total)

    def publish(self, firing: Mapping[tuple[str, str], int] | None = None) -> None:
        """This process's view, now. `firing`: {(rule name, severity): alerts firing}, from
        the alerts hook; None exports no alert series."""
        engine = self.engine
        if self.recorder is not None:
            stats = self.recorder.stats()
            self._count(RECORDER_WRITTEN, stats.written)
            self._count(RECORDER_DROPPED, stats.dropped)
            self._set(RECORDER_QUEUED, (), stats.queued)
        self._set(INFLIGHT_REQUESTS, (), engine.in_flight)
        for dep, st in engine.deployments.items():
            state = st.breaker.state.value
            for s in _STATES:
                self._set(BREAKER, (dep, s), 1.0 if s == state else 0.0)
            self._set(HEADROOM, (dep,), st.headroom.fraction_left())
            self._set(INFLIGHT_ATTEMPTS, (dep,), st.health.in_flight)
            self._set(DRAINED, (dep,), 0.0 if st.drained is None else 1.0)
        flags = engine.flags
        for name, compiled in flags.flags.items():
            self._set(FLAG_RATIO, (name,), compiled.pct_tenths / 1000.0)
            state = flags.states.get(name)
            self._set(FLAG_KILLED, (name,), 1.0 if state and state.killed else 0.0)
        if firing is not None:
            for labels in self._alert_labels - set(firing):  # resolved since: back to 0
                self._set(ALERTS, labels, 0.0)
            for labels, n in firing.items():
                self._set(ALERTS, labels, float(n))
            self._alert_labels |= set(firing)
