"""The gateway as a plain ASGI app: the OpenAI-compatible API, health probes and the admin
API over one Engine. This module builds and dispatches; routes are functions that find
what they use (services.py: host, engine, key ring) in the request's scope.

    POST /v1/chat/completions   (also /chat/completions)
    POST /v1/messages           Anthropic's Messages API, see messages.py (and count_tokens)
    POST /v1/audio/transcriptions  (also /audio/transcriptions), multipart: transcriptions.py
    POST /v1/feedback           a caller rates a request it made, see feedback.py
    GET  /v1/models, /v1/models/{route}
    GET  /healthz               alive
    GET  /readyz                store reachable and some route able to serve (each route
                                that cannot is named, with why, under "unservable")
    GET  /metrics               Prometheus exposition, see metrics.py
         /admin/...             see admin.py

Lifespan: startup starts a runtime host (axtui/runtime: store, recorder, engine, event
writer, control-plane sync) with the caller keys following the control plane too;
shutdown (after uvicorn has let in-flight requests finish) stops the host in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from axtui.config import Config
from axtui.engine.limits import DAY
from axtui.gateway import admin as admin_api
from axtui.gateway.asgi import (
    ClientGone,
    Receive,
    Scope,
    Send,
    header,
    respond_error,
    respond_json,
)
from axtui.gateway.chat import chat_completions
from axtui.gateway.errors import ApiError
from axtui.gateway.feedback import feedback
from axtui.gateway.keys import KeyRing, config_keys
from axtui.gateway.messages import count_tokens, messages, respond_anthropic_error
from axtui.gateway.metrics import MetricsExporter
from axtui.gateway.metrics import metrics as metrics_route
from axtui.gateway.services import SCOPE_KEY, Services, services
from axtui.gateway.transcriptions import transcriptions

if TYPE_CHECKING:
    from axtui.engine.engine import Engine
    from axtui.runtime import RuntimeHost
    from axtui.runtime.reload import ReloadResult

log = logging.getLogger(__name__)

Route = Callable[[Scope, Receive, Send], Awaitable[None]]


class Gateway:
    """The ASGI app: builds the services at startup, hands them to each request in its
    scope, and dispatches it to its route."""

    def __init__(
        self,
        config: Config,
        *,
        store_url: str | None = None,
        trace_path: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        on_ready: Callable[[Gateway], None] | None = None,
        config_path: str | Path | None = None,
        reload_on_sighup: bool = False,
        adjust_config: Callable[[Config], Config] | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path  # what a reload re-reads (None: the bundled demo)
        self.reload_on_sighup = reload_on_sighup
        self.adjust_config = adjust_config  # the command line's overrides, for a reload
        self._reload_lock: asyncio.Lock | None = None
        self._reload_tasks: set[asyncio.Task] = set()
        self.store_url = store_url or config.store.url
        self.trace_path = trace_path if trace_path is not None else config.trace.path
        self.environ = os.environ if environ is None else environ
        self.on_ready = on_ready
        token = self.environ.get(config.gateway.admin_token_env)
        self.admin_token: bytes | None = token.encode() if token else None
        self.metrics: MetricsExporter | None = None
        self.services: Services | None = None  # from startup

    # what the CLI and tests look at, once started
    @property
    def host(self) -> RuntimeHost:
        return self._started().host

    @property
    def engine(self) -> Engine:
        return self._started().engine

    @property
    def keys(self) -> KeyRing:
        return self._started().keys

    @property
    def store(self) -> Any:
        return self._started().store

    @property
    def recorder(self) -> Any:
        return self._started().recorder

    def _started(self) -> Services:
        if self.services is None:
            raise RuntimeError("the gateway has not started")
        return self.services

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            scope[SCOPE_KEY] = self.services
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        methods = ROUTES.get(path)
        try:
            if self.services is None and path not in ("/healthz", "/readyz"):
                raise ApiError(503, "the gateway has not started", type="server_error")
            if methods is not None:
                handler = methods.get(scope["method"])
                if handler is None:
                    allow = ", ".join(methods)
                    raise ApiError(405, f"{scope['method']} {path}: use {allow}",
                                   headers=[(b"allow", allow.encode())])
                await handler(scope, receive, send)
            elif path.startswith("/v1/models/") and scope["method"] == "GET":
                await model(scope, receive, send)
            elif path.startswith("/admin/"):
                await admin_api.admin(scope, receive, send)
            else:
                raise ApiError(404, f"Invalid URL ({scope['method']} {path})")
        except ApiError as e:
            await (respond_anthropic_error if path in ANTHROPIC_PATHS else respond_error)(send, e)
        except ClientGone:
            return
        except Exception:  # a bug: one 500 with a generic body, the details in the log
            log.exception("unhandled error in %s %s", scope["method"], path)
            try:
                err = ApiError(500, "internal error in the gateway", type="server_error")
                await (respond_anthropic_error if path in ANTHROPIC_PATHS
                       else respond_error)(send, err)
            except RuntimeError as e:  # the response had already begun
                log.debug("could not send the 500: %s", e)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as e:
                    log.exception("gateway startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------ lifecycle

    async def startup(self) -> None:
        from axtui.runtime import RuntimeHost

        cfg = self.config
        keys = config_keys(cfg, self.environ)  # before anything opens: a missing key is fatal
        self.metrics = MetricsExporter.from_config(cfg, self.store_url, self.environ)
        host = RuntimeHost(cfg, face="serve", store_url=self.store_url,
                           trace_path=self.trace_path,
                           metrics_dir=self.metrics and self.metrics.path)
        ring = KeyRing(host.clock, keys, required=cfg.gateway.auth == "required")
        host.add_control_target(ring)  # revocations arrive with drains and flags
        host.subscribe_records(ring.on_record)
        await host.start()
        now = host.clock.now()
        spent = await asyncio.to_thread(host.store.spend, now - now % DAY, None, "key")
        ring.seed_spend(spent)
        if host.fleet is not None:  # [redis]: the keys' limits hold across the fleet
            host.fleet.share_keys(ring)
        svc = Services(cfg, host, ring, self.metrics, self.admin_token)
        if self.metrics is not None:
            self.metrics.start(svc.engine, firing_alerts=self._firing_alerts,
                               recorder=svc.recorder)
        svc.reload = self.reload
        self.services = svc
        self._reload_lock = asyncio.Lock()
        if self.reload_on_sighup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        if self.on_ready is not None:
            self.on_ready(self)

    def _firing_alerts(self) -> dict[tuple[str, str], int]:
        """What the alert evaluator last wrote (any process's): read in a worker thread."""
        from axtui.alerts.state import firing_counts

        with self.store.connect() as conn:
            return firing_counts(conn)

    def past_grace(self) -> None:
        """The server cancels what is still in flight: records say 503, as the client sees."""
        if self.services is not None:
            self.services.engine.stopping = True

    async def reload(self, by: str) -> ReloadResult:
        """Re-read the config file and apply it to new requests, or refuse it whole
        (runtime/reload.py). One reload at a time."""
        from axtui.runtime.reload import reload_config

        svc = self._started()
        assert self._reload_lock is not None
        async with self._reload_lock:
            result = await reload_config(svc.host, self.config_path, by=by,
                                         adjust=self.adjust_config)
            if result.ok:
                self.config = svc.config = svc.host.config
        return result

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload("SIGHUP"))
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_done)

    def _reload_done(self, task: asyncio.Task) -> None:
        self._reload_tasks.discard(task)
        if not task.cancelled() and (e := task.exception()) is not None:
            log.error("config reload on SIGHUP failed: %s: %s", type(e).__name__, e)
        elif not task.cancelled():
            result = task.result()
            print(result.summary(), file=sys.stderr, flush=True)

    async def shutdown(self) -> None:
        if self.reload_on_sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        svc = self.services
        if svc is not None:
            svc.ready = False
            await svc.host.stop()  # engine, events, every queued record, then the store
        if self.metrics is not None:
            await self.metrics.stop()  # this process's live gauges leave the directory


# ---------------------------------------------------------------------- small routes


async def list_models(scope: Scope, receive: Receive, send: Send) -> None:
    svc = services(scope)
    key = svc.authenticate(header(scope, b"authorization"))
    created = svc.created()
    await respond_json(send, {"object": "list", "data": [
        _model(name, created) for name in svc.visible_routes(key)]})


async def model(scope: Scope, receive: Receive, send: Send) -> None:
    svc = services(scope)
    key = svc.authenticate(header(scope, b"authorization"))
    name = scope["path"][len("/v1/models/"):]
    if name not in svc.visible_routes(key):
        raise ApiError(404, svc.no_such_model(name, key), code="model_not_found", param="model")
    await respond_json(send, _model(name, svc.created()))


def _model(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "axtui"}


async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
    """Alive, and which process answered (its heartbeat's id: one of a fleet's workers)."""
    gw = services(scope)
    body = {"status": "ok"}
    if gw is not None:
        body["process"] = gw.host.process_id
    await respond_json(send, body)


def no_route_serves(unservable: dict[str, str], routes: int) -> str | None:
    """Every route out on faults or drains: this gateway is not ready. Upstreams' own 429s
    are not a reason: the gateway's answer (429 with retry-after) is what a caller should
    get, not a load balancer's error for a gateway it took out."""
    if not unservable or len(unservable) < routes:
        return None
    if any("rate limited" in why for why in unservable.values()):
        return None
    return "no route can serve: " + "; ".join(f"{r}: {why}" for r, why in unservable.items())


async def readyz(scope: Scope, receive: Receive, send: Send) -> None:
    gw = services(scope)
    problems, routable, unservable, fleet, sync = [], [], {}, None, None
    if gw is None or not gw.ready:
        problems.append("not started, or shutting down")
    else:
        try:
            await asyncio.wait_for(asyncio.to_thread(gw.store.control_version), 2.0)
        except Exception as e:  # any failure to read the store means not ready
            problems.append(f"store unreachable: {type(e).__name__}")
        routable = [d for d, st in gw.engine.deployments.items()
                    if st.drained is None and st.breaker.available()]
        if not routable:
            problems.append("no deployment is routable (all drained or breakers open)")
        unservable = {r: why for r, why in gw.engine.route_readiness().items() if why}
        if routable and (problem := no_route_serves(unservable, len(gw.engine.routes))):
            problems.append(problem)
        fleet = gw.host.fleet  # Redis down is not unready: the process counts alone meanwhile
        sync = gw.host.sync  # nor is LISTEN down: the process polls meanwhile
    degraded = [p for p in (fleet.problem() if fleet else None,
                            sync.problem() if sync else None) if p]
    extra: dict = {"degraded": degraded}
    if fleet is not None:
        extra["redis"] = fleet.status()
    if sync is not None:
        extra["control_sync"] = sync.status()
    if problems:
        await respond_json(send, {"status": "unready", "problems": problems,
                                  "unservable": unservable, **extra}, 503)
    else:
        await respond_json(send, {"status": "ready", "routable": len(routable),
                                  "unservable": unservable, **extra})


ROUTES: dict[str, dict[str, Route]] = {
    "/v1/chat/completions": {"POST": chat_completions},
    "/chat/completions": {"POST": chat_completions},
    "/v1/messages": {"POST": messages},
    "/v1/messages/count_tokens": {"POST": count_tokens},
    "/v1/models": {"GET": list_models},
    "/v1/feedback": {"POST": feedback},
    "/v1/audio/transcriptions": {"POST": transcriptions},
    "/audio/transcriptions": {"POST": transcriptions},
    "/healthz": {"GET": healthz},
    "/readyz": {"GET": readyz},
    "/metrics": {"GET": metrics_route},
}
ANTHROPIC_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})  # their errors
