"""The gateway as a plain ASGI app: the OpenAI-compatible API, health probes and the admin
API over one Engine. Routes are functions; the engine does the work.

    POST /v1/chat/completions   (also /chat/completions)
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
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from axtui.config import Config
from axtui.engine.engine import Engine, RequestContext
from axtui.engine.limits import DAY
from axtui.gateway import admin as admin_api
from axtui.gateway.asgi import (
    ClientGone,
    Header,
    Receive,
    Scope,
    Send,
    header,
    respond_error,
    respond_json,
)
from axtui.gateway.chat import chat_completions
from axtui.gateway.errors import ApiError, unauthorized
from axtui.gateway.keys import CallerKey, KeyRing, config_keys
from axtui.gateway.metrics import MetricsExporter
from axtui.gateway.metrics import metrics as metrics_route
from axtui.providers.base import ChatRequest, RateLimitInfo
from axtui.records import ErrorKind, RequestRecord

if TYPE_CHECKING:
    from axtui.runtime import RuntimeHost

log = logging.getLogger(__name__)

Route = Callable[["Gateway", Scope, Receive, Send], Awaitable[None]]


class Gateway:
    def __init__(
        self,
        config: Config,
        *,
        store_url: str | None = None,
        trace_path: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        on_ready: Callable[[Gateway], None] | None = None,
    ) -> None:
        self.config = config
        self.store_url = store_url or config.store.url
        self.trace_path = trace_path if trace_path is not None else config.trace.path
        self.environ = os.environ if environ is None else environ
        self.on_ready = on_ready
        g = config.gateway
        self.max_body_bytes = g.max_body_bytes
        self.body_timeout_s = g.body_timeout_s
        token = self.environ.get(g.admin_token_env)
        self.admin_token: bytes | None = token.encode() if token else None
        # header names routing rules look at: only those are copied per request
        self.rule_headers = frozenset(h.lower().encode() for r in config.rules
                                      for h in r.match.header)
        self._ids = itertools.count(1)
        self._id_prefix = "g" + os.urandom(4).hex()
        self.started_at = time.monotonic()
        self.ready = False
        # set at startup
        self.host: RuntimeHost | None = None
        self.store: Any = None
        self.recorder: Any = None
        self.engine: Engine = None  # type: ignore[assignment]
        self.keys: KeyRing = None  # type: ignore[assignment]
        self.metrics: MetricsExporter | None = None

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        methods = ROUTES.get(path)
        try:
            if methods is not None:
                handler = methods.get(scope["method"])
                if handler is None:
                    allow = ", ".join(methods)
                    raise ApiError(405, f"{scope['method']} {path}: use {allow}",
                                   headers=[(b"allow", allow.encode())])
                await handler(self, scope, receive, send)
            elif path.startswith("/v1/models/") and scope["method"] == "GET":
                await model(self, scope, receive, send)
            elif path.startswith("/admin/"):
                await admin_api.admin(self, scope, receive, send)
            else:
                raise ApiError(404, f"Invalid URL ({scope['method']} {path})")
        except ApiError as e:
            await respond_error(send, e)
        except ClientGone:
            return
        except Exception:  # a bug: one 500 with a generic body, the details in the log
            log.exception("unhandled error in %s %s", scope["method"], path)
            try:
                await respond_error(send, ApiError(500, "internal error in the gateway",
                                                   type="server_error"))
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
        self.host = host = RuntimeHost(cfg, face="serve", store_url=self.store_url,
                                       trace_path=self.trace_path,
                                       metrics_dir=self.metrics and self.metrics.path)
        self.keys = KeyRing(host.clock, keys, required=cfg.gateway.auth == "required")
        host.add_control_target(self.keys)  # revocations arrive with drains and flags
        host.subscribe_records(self.keys.on_record)
        await host.start()
        self.engine, self.store, self.recorder = host.engine, host.store, host.recorder
        now = host.clock.now()
        spent = await asyncio.to_thread(host.store.spend, now - now % DAY, None, "key")
        self.keys.seed_spend(spent)
        if self.metrics is not None:
            self.metrics.start(self.engine, firing_alerts=self._firing_alerts,
                               recorder=self.recorder)
        self.started_at = time.monotonic()
        self.ready = True
        if self.on_ready is not None:
            self.on_ready(self)

    def _firing_alerts(self) -> dict[tuple[str, str], int]:
        """What the alert evaluator last wrote (any process's): read in a worker thread."""
        from axtui.alerts.state import firing_counts

        with self.store.connect() as conn:
            return firing_counts(conn)

    async def shutdown(self) -> None:
        self.ready = False
        if self.host is not None:
            await self.host.stop()  # engine, events, every queued record, then the store
        if self.metrics is not None:
            await self.metrics.stop()  # this process's live gauges leave the directory

    # ------------------------------------------------------------------ for the routes

    def next_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):010x}"

    def authenticate(self, auth: bytes | None) -> CallerKey | None:
        """The caller's key, None when the gateway runs without keys; 401 otherwise."""
        keys = self.keys
        if not keys.auth_required:
            return None
        if auth is None or not auth.startswith(b"Bearer "):
            raise unauthorized("You didn't provide an API key. Send it as "
                               "`Authorization: Bearer <key>`.")
        key = keys.lookup(auth[7:].strip().decode("latin-1"))
        if key is None:
            raise unauthorized("Incorrect API key provided.")
        if key.revoked:
            raise unauthorized(f"The API key {key.id} has been revoked.")
        return key

    def visible_routes(self, key: CallerKey | None) -> list[str]:
        return sorted(r for r in self.engine.routes if key is None or key.allows(r))

    def no_such_model(self, model: str, key: CallerKey | None) -> str:
        return (f"The model `{model}` does not exist or you do not have access to it; "
                f"routes: {', '.join(self.visible_routes(key))}")

    def ratelimit_headers(self, user: str | None, key: CallerKey | None) -> list[Header]:
        """x-ratelimit-* for the caller's tightest request and token windows (engine quotas
        and the key's own limits); none when the caller is unlimited."""
        infos = []
        if self.engine.quotas.enabled:
            infos.append(self.engine.quotas.remaining(user, key.id if key else None))
        if key is not None and (key.rpm or key.tpm):
            own = self.keys.remaining(key)
            if own is not None:
                infos.append(own)
        return _ratelimit_headers(infos) if infos else []

    def reject(self, req: ChatRequest, ctx: RequestContext, kind: ErrorKind,
               message: str) -> RequestRecord:
        """Record a request the gateway refused for its key (allow-list, rpm, budget) through
        the engine, so every record listener (store, trace, live tail) sees it."""
        return self.engine.reject(req, ctx, kind, message, reason="key limits").record


def _ratelimit_headers(infos: list[RateLimitInfo]) -> list[Header]:
    req = [i for i in infos if i.remaining_requests is not None]
    tok = [i for i in infos if i.remaining_tokens is not None]
    h: list[Header] = []
    if req:
        r = min(req, key=lambda i: i.remaining_requests)
        h += [(b"x-ratelimit-limit-requests", str(r.limit_requests).encode()),
              (b"x-ratelimit-remaining-requests", str(r.remaining_requests).encode()),
              (b"x-ratelimit-reset-requests", _duration(r.reset_requests_s or 0.0))]
    if tok:
        t = min(tok, key=lambda i: i.remaining_tokens)
        h += [(b"x-ratelimit-limit-tokens", str(t.limit_tokens).encode()),
              (b"x-ratelimit-remaining-tokens", str(t.remaining_tokens).encode()),
              (b"x-ratelimit-reset-tokens", _duration(t.reset_tokens_s or 0.0))]
    return h


def _duration(s: float) -> bytes:
    """OpenAI's reset format: `120ms`, `1.5s`, `6m0s`."""
    if s < 1:
        return f"{round(s * 1000)}ms".encode()
    m, sec = divmod(s, 60)
    return (f"{int(m)}m{sec:.0f}s" if m else f"{sec:.3g}s").encode()


# ---------------------------------------------------------------------- small routes


async def list_models(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    key = gw.authenticate(header(scope, b"authorization"))
    created = int(time.time() - (time.monotonic() - gw.started_at))
    await respond_json(send, {"object": "list", "data": [
        _model(name, created) for name in gw.visible_routes(key)]})


async def model(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    key = gw.authenticate(header(scope, b"authorization"))
    name = scope["path"][len("/v1/models/"):]
    if name not in gw.visible_routes(key):
        raise ApiError(404, gw.no_such_model(name, key), code="model_not_found", param="model")
    await respond_json(send, _model(name, int(time.time() - (time.monotonic() - gw.started_at))))


def _model(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "axtui"}


async def healthz(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    await respond_json(send, {"status": "ok"})


async def readyz(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    problems, routable, unservable = [], [], {}
    if not gw.ready:
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
        # routes that can serve nothing now; every route so: this gateway is not ready
        unservable = {r: why for r, why in gw.engine.route_readiness().items() if why}
        if unservable and len(unservable) == len(gw.engine.routes) and routable:
            problems.append("no route can serve: " + "; ".join(
                f"{r}: {why}" for r, why in unservable.items()))
    if problems:
        await respond_json(send, {"status": "unready", "problems": problems,
                                  "unservable": unservable}, 503)
    else:
        await respond_json(send, {"status": "ready", "routable": len(routable),
                                  "unservable": unservable})


ROUTES: dict[str, dict[str, Route]] = {
    "/v1/chat/completions": {"POST": chat_completions},
    "/chat/completions": {"POST": chat_completions},
    "/v1/models": {"GET": list_models},
    "/healthz": {"GET": healthz},
    "/readyz": {"GET": readyz},
    "/metrics": {"GET": metrics_route},
}
