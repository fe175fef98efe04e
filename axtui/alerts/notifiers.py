"""Notifications: one webhook POST per transition (JSON, or Slack's `{"text": ...}`), sent
from a thread of their own so a slow or dead receiver never touches routing or evaluation.

Each delivery is retried with doubling backoff; one that still fails (or finds the queue
full) is counted, logged, written to the store as an `alert.notify_failed` event, and added
to the alert's `notifications_failed`, shown by `axtui alerts show`. Never lost silently.
A webhook URL often carries a secret in its path: only its scheme and host are ever logged
or stored.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import update

from axtui.alerts.rules import WebhookConfig
from axtui.alerts.state import AlertNotifyFailedEvent
from axtui.store.tables import AlertStateRow

log = logging.getLogger(__name__)
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_MAX_BACKOFF_S = 60.0
_S = AlertStateRow.__table__.c


class Notification(BaseModel):
    """What a receiver is told: kind is firing, resolved, nodata or repeat."""

    model_config = ConfigDict(frozen=True)

    kind: str
    rule: str
    severity: str
    metric: str
    scope: str
    condition: str
    value: float | None
    threshold: float
    summary: str = ""
    runbook: str = ""
    labels: dict[str, str] = {}
    at: float

    def text(self) -> str:
        head = {"repeat": "FIRING (still)", "nodata": "NO DATA"}.get(self.kind, self.kind.upper())
        value = "no data" if self.value is None else f"{self.value:.4g}"
        line = f"[{head}] {self.severity} {self.rule}: {self.condition} (value {value})"
        if self.summary:
            line += f"\n{self.summary}"
        if self.runbook:
            line += f"\nrunbook: {self.runbook}"
        return line

    def body(self, fmt: str) -> dict[str, Any]:
        if fmt == "slack":
            return {"text": self.text()}
        return {"version": "1", "status": "resolved" if self.kind == "resolved" else
                "firing" if self.kind in ("firing", "repeat") else self.kind,
                "alert": self.model_dump(mode="json"), "text": self.text()}


def redact_url(url: str) -> str:
    """scheme://host[:port]/… : enough to tell receivers apart, never the secret path."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


class _Hook:
    __slots__ = ("cfg", "url", "shown")

    def __init__(self, cfg: WebhookConfig, env: Mapping[str, str]) -> None:
        url = cfg.url or env.get(cfg.url_env or "")
        if not url:
            raise ValueError(f"alerting.webhooks {cfg.name}: environment variable "
                             f"{cfg.url_env} is not set")
        self.cfg, self.url, self.shown = cfg, url, redact_url(url)


class WebhookNotifier:
    """Delivers notifications to every webhook from one daemon thread. `submit` never
    blocks; `close` lets the queue drain (up to a timeout), then stops the thread."""

    def __init__(
        self,
        webhooks: list[WebhookConfig],
        *,
        store: Any = None,
        queue_max: int = 1000,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.hooks = [_Hook(w, os.environ if env is None else env) for w in webhooks]
        self.store = store
        self.sleep = sleep  # backoff waits (tests record them instead of waiting)
        self.sent = 0
        self.failed = 0  # deliveries given up after every attempt
        self.dropped = 0  # notifications the full queue refused
        self._queue: queue.Queue[Notification | None] = queue.Queue(queue_max)
        self._pending = 0
        self._idle = threading.Condition()
        self._client = httpx.Client(transport=transport, follow_redirects=False)
        self._thread = threading.Thread(target=self._work, name="axtui-alert-notifier",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def from_config(cls, alerting: Any, store: Any = None, **kw: Any) -> WebhookNotifier | None:
        """The `[alerting]` webhooks, or None when there are none. Raises ValueError naming
        a `url_env` variable that is not set."""
        return cls(list(alerting.webhooks), store=store, **kw) if alerting.webhooks else None

    def submit(self, n: Notification) -> None:
        if not self.hooks:
            return
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(n)
        except queue.Full:
            self.dropped += 1
            log.warning("alert %s: %s notification dropped (queue full)", n.rule, n.kind)
            # recorded from a thread of its own: submit runs on the evaluator's path
            threading.Thread(target=self._finish_dropped, args=(n,), daemon=True).start()

    def _finish_dropped(self, n: Notification) -> None:
        for hook in self.hooks:
            self._record(n, hook, ok=False, attempts=0, error="queue full")
        self._done()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted notification is delivered or given up."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 10.0) -> None:
        self.wait_idle(timeout)
        self._queue.put(None)
        self._thread.join(timeout)
        self._client.close()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _work(self) -> None:
        while True:
            n = self._queue.get()
            if n is None:
                return
            try:
                for hook in self.hooks:
                    if _SEVERITY_RANK[n.severity] >= _SEVERITY_RANK[hook.cfg.min_severity]:
                        self._deliver(n, hook)
            finally:
                self._done()

    def _deliver(self, n: Notification, hook: _Hook) -> None:
        cfg = hook.cfg
        error = ""
        for attempt in range(1, cfg.max_attempts + 1):
            retry = True
            try:
                resp = self._client.post(hook.url, json=n.body(cfg.format), timeout=cfg.timeout_s)
                if 200 <= resp.status_code < 300:
                    self._record(n, hook, ok=True, attempts=attempt)
                    return
                error = f"HTTP {resp.status_code}"
                retry = resp.status_code in (408, 429) or resp.status_code >= 500
            except httpx.HTTPError as e:  # connect, timeout, protocol: retried
                error = f"{type(e).__name__}: {e}".replace(hook.url, hook.shown)
            if not retry or attempt == cfg.max_attempts:
                break
            self.sleep(min(_MAX_BACKOFF_S, cfg.backoff_s * 2 ** (attempt - 1)))
        self._record(n, hook, ok=False, attempts=attempt, error=error)

    def _record(self, n: Notification, hook: _Hook, *, ok: bool, attempts: int,
                error: str = "") -> None:
        if ok:
            self.sent += 1
        else:
            self.failed += 1
            log.warning("alert %s: %s notification to %s failed after %d attempt(s): %s",
                        n.rule, n.kind, hook.shown, attempts, error)
        if self.store is None:
            return
        col = _S.notifications_sent if ok else _S.notifications_failed
        try:
            with self.store.begin() as conn:
                conn.execute(update(AlertStateRow.__table__).where(_S.name == n.rule)
                             .values({col.name: col + 1}))
                if not ok:
                    from axtui.store import control

                    detail = AlertNotifyFailedEvent(rule=n.rule, transition=n.kind,
                                                    webhook=hook.shown, attempts=attempts,
                                                    error=error)
                    control.add_event(conn, "alert.notify_failed", n.rule,
                                      detail.model_dump(), self.store.clock.now())
        except Exception as e:  # a locked store: the counter above and the log still say it
            log.warning("alert %s: notification result not stored: %s", n.rule,
                        type(e).__name__)
