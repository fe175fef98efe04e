"""`GET /metrics`: the Prometheus exposition of every process sharing the metrics directory.

Request and attempt metrics are counted by the recorder (axtui/prometheus/records.py),
engine gauges by a publisher on this event loop (axtui/prometheus/engine.py); a scrape
publishes this process's gauges, then merges every file in the directory with
prometheus-client's `MultiProcessCollector` in a worker thread.

Open by default, as exporters usually are: the exposition holds names, counts and spend,
never a prompt, key or secret, and the gateway listens on loopback unless told otherwise.
`[metrics] token_env` puts it behind a bearer token (Prometheus' `authorization` option).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from axtui.config import Config
from axtui.gateway.asgi import Receive, Scope, Send, header, respond
from axtui.gateway.errors import ApiError
from axtui.gateway.services import services
from axtui.prometheus.engine import EngineGauges, FiringAlerts
from axtui.prometheus.feedback import RatingMetrics
from axtui.prometheus.files import dir_lock, metrics_dir, tidy

log = logging.getLogger(__name__)
TIDY_EVERY_S = 30.0


class MetricsExporter:
    """Owns the engine gauges' publisher and answers scrapes for one gateway process."""

    def __init__(self, path: Path, token: bytes | None, publish_s: float) -> None:
        self.path = path  # the recorder counts requests into it too: pass it `metrics_dir`
        self.token = token
        self.publish_s = publish_s
        self.gauges: EngineGauges | None = None
        self.firing_alerts: FiringAlerts | None = None
        self.ratings: RatingMetrics | None = None  # POST /v1/feedback's scores
        self._firing: Mapping[tuple[str, str], int] | None = None  # as last read
        self.publish_errors = 0
        self.last_scrape_s: float | None = None
        self._task: asyncio.Task | None = None

    @classmethod
    def from_config(cls, config: Config, store_url: str,
                    environ: Mapping[str, str]) -> MetricsExporter | None:
        """None when `[metrics] enabled = false`. A token variable that is named but unset
        is an error: /metrics must not open up because a secret went missing."""
        m = config.metrics
        if not m.enabled:
            return None
        token = None
        if m.token_env:
            value = environ.get(m.token_env)
            if not value:
                raise ValueError(f"metrics.token_env: {m.token_env} is not set; set it, or "
                                 "remove token_env to serve /metrics without a token")
            token = value.encode()
        path = metrics_dir(m.dir, store_url, environ)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"metrics.dir: cannot create {path}: {e.strerror}") from None
        if not os.access(path, os.W_OK):
            raise ValueError(f"metrics.dir: {path} is not writable")
        return cls(path, token, m.publish_s)

    def start(self, engine: Any, firing_alerts: FiringAlerts | None = None,
              recorder: Any = None) -> None:
        """Publish `engine`'s gauges from now on (on the running loop).

        `firing_alerts` is the hook for alerts: a function returning {(rule name,
        severity): alerts firing}, called in a worker thread every `publish_s` (so it may
        read the store). Without one, no alert series is exported (rather than a
        misleading 0). `recorder`: its written, dropped and queued counts are exported too."""
        self.gauges = EngineGauges(engine, self.path, recorder)
        self.ratings = RatingMetrics(self.path)
        self.firing_alerts = firing_alerts
        self.publish()
        self._task = asyncio.get_running_loop().create_task(self._publish_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # the cancel we asked for
                await self._task
        if self.gauges is not None:
            self.publish()  # the final counts (the recorder has closed: all written)
            self.gauges.close()
            self.gauges = None
        if self.ratings is not None:
            self.ratings.close()
            self.ratings = None

    async def _publish_loop(self) -> None:
        next_tidy = time.monotonic() + TIDY_EVERY_S
        while True:
            await asyncio.sleep(self.publish_s)
            if self.firing_alerts is not None:
                self._firing = await asyncio.to_thread(self._read_alerts)
            self.publish()
            if time.monotonic() >= next_tidy:  # a crashed peer's gauges go within this
                next_tidy = time.monotonic() + TIDY_EVERY_S
                await asyncio.to_thread(self.tidy)

    def tidy(self) -> list[int]:
        """Fold away what exited processes left in the directory (see files.tidy)."""
        try:
            with dir_lock(self.path, exclusive=True):
                return tidy(self.path)
        except OSError as e:  # the next round tries again; the log says why
            self.publish_errors += 1
            log.error("metrics: tidying %s failed: %s", self.path, e)
            return []

    def _read_alerts(self) -> Mapping[tuple[str, str], int] | None:
        try:
            return self.firing_alerts() if self.firing_alerts is not None else None
        except Exception:  # counted and logged; the series keep their last values
            self.publish_errors += 1
            log.exception("metrics: reading the firing alerts failed")
            return self._firing

    def publish(self) -> None:
        """This process's engine gauges, now (on the event loop)."""
        if self.gauges is None:
            return
        try:
            self.gauges.publish(self._firing)
        except Exception:  # a gauge must never take the gateway down: counted and logged
            self.publish_errors += 1
            log.exception("metrics: publishing the engine gauges failed")

    def exposition(self) -> bytes:
        """Every process's metrics in the directory, merged (blocking: file reads)."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.path))
        with dir_lock(self.path, exclusive=False):  # no file folded away mid-read
            return generate_latest(registry)


async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
    exporter = services(scope).metrics
    if exporter is None:
        raise ApiError(404, "metrics are off here ([metrics] enabled = false)")
    if exporter.token is not None:
        auth = header(scope, b"authorization") or b""
        if not auth.startswith(b"Bearer ") or not hmac.compare_digest(auth[7:].strip(),
                                                                      exporter.token):
            raise ApiError(401, "/metrics needs `Authorization: Bearer <token>` (the value "
                           "of [metrics] token_env)", type="authentication_error",
                           code="invalid_metrics_token")
    t0 = time.perf_counter()
    exporter.publish()  # this process's gauges as of now; others' are at most publish_s old
    try:
        body = await asyncio.to_thread(exporter.exposition)
    except (OSError, RuntimeError, ValueError, struct.error) as e:  # unreadable or corrupt
        log.exception("metrics: reading %s failed", exporter.path)
        raise ApiError(500, f"metrics in {exporter.path} could not be read: "
                       f"{type(e).__name__}: {e}", type="server_error") from None
    exporter.last_scrape_s = time.perf_counter() - t0
    await respond(send, 200, body, [(b"content-type", CONTENT_TYPE)])


CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
