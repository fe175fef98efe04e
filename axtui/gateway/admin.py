"""The admin API under /admin, behind its own bearer token (from the environment variable
named by `gateway.admin_token_env`); while that variable is unset the API does not exist
(404). Operations go through the store's control plane, so every gateway sharing the store
applies them, and each is audited in the event log.

    GET  /admin/status                          deployments (health, breaker, drain), routes,
                                                recorder, keys, control-plane sync, host jobs
    POST /admin/deployments/{id}/drain          {"reason": "...", "by": "..."}; reason required
    POST /admin/deployments/{id}/undrain        {"by": "..."}
    GET  /admin/events?kind=&subject=&limit=    the audit/event log, newest first
    POST /admin/config/reload                   {"by": "..."}; re-read the config file: 200
                                                applied (diff, restart_required), 422 refused
                                                (errors listed; the running config stays)
    /admin/flags...                             flag operations: see admin_flags.py
    /admin/cache, /admin/cache/clear            the response cache: see admin_cache.py
    /admin/ratelimit, /admin/ratelimit/reset    caller quotas: see admin_ratelimit.py
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

from axtui.gateway.admin_cache import CACHE_ROUTES
from axtui.gateway.admin_flags import FLAG_ROUTES
from axtui.gateway.admin_input import by_whom as _by
from axtui.gateway.admin_input import json_body
from axtui.gateway.admin_ratelimit import RATELIMIT_ROUTES
from axtui.gateway.asgi import Receive, Scope, Send, header, respond_json
from axtui.gateway.errors import ApiError, bad_request
from axtui.gateway.services import Services, services

Handler = Callable[[Services, Scope, Receive, Send, re.Match], Awaitable[None]]


async def status(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    eng = gw.engine
    deployments = []
    for dep_id, st in eng.deployments.items():
        deployments.append({
            "id": dep_id, "provider": st.spec.provider, "model": st.spec.model,
            "drained": st.drained, "breaker": str(st.breaker.state),
            "open_until": st.breaker.open_until, "headroom": st.headroom.fraction_left(),
            "cooldown_until": st.headroom.cooldown_until,
            "health": asdict(st.health.snapshot(st.breaker)),
        })
    hs = gw.host.stats()
    await respond_json(send, {
        "at": time.time(), "uptime_s": time.monotonic() - gw.started_at,
        "in_flight": eng.in_flight,
        "auth": {"required": gw.keys.auth_required, "keys": len(gw.keys)},
        "control": asdict(hs.control),
        "host": {"process_id": hs.process_id, "jobs": [asdict(j) for j in hs.jobs],
                 "events": asdict(hs.events) if hs.events else None,
                 "listener_errors": hs.listener_errors},
        "recorder": asdict(gw.recorder.stats()),
        "deployments": deployments,
        "routes": {name: {"candidates": list(r.candidates), "strategy": r.strategy,
                          "fallbacks": list(r.fallbacks)}
                   for name, r in eng.config.routes.items()},
    })


async def drain(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    dep = _deployment(gw, m)
    body = await json_body(scope, receive)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise bad_request("reason: a drain needs a reason (who reads the audit log later "
                          "will want it)", "reason")
    by = _by(body)
    version = await gw.host.drain(dep, reason, by)  # applied here before answering
    await respond_json(send, {"deployment": dep, "drained": True, "reason": reason.strip(),
                              "by": by, "version": version})


async def undrain(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    dep = _deployment(gw, m)
    by = _by(await json_body(scope, receive))
    gone = await gw.host.undrain(dep, by)
    await respond_json(send, {"deployment": dep, "undrained": gone, "by": by})


async def events(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    filters: dict[str, Any] = {}
    for name in ("kind", "subject"):
        if q.get(name):
            filters[name] = q[name][0]
    limit = q.get("limit", ["100"])[0]
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise bad_request("limit: expected an integer from 1 to 1000", "limit")
    found = await asyncio.to_thread(gw.store.events, limit=int(limit), **filters)
    await respond_json(send, {"object": "list", "data": [e.model_dump() for e in found]})


async def config_reload(gw: Services, scope: Scope, receive: Receive, send: Send,
                        m: re.Match) -> None:
    by = _by(await json_body(scope, receive))
    result = await gw.reload(by)
    body = result.as_dict()
    if not result.ok:
        body["error"] = {"message": result.summary(), "type": "invalid_request_error",
                         "param": None, "code": "config_invalid"}
    await respond_json(send, body, 200 if result.ok else 422)


# Method, path under /admin, handler. Flag operations (issue 4) join here, e.g.
# GET /flags, POST /flags/{name}/rollout, POST /flags/{name}/kill.
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/status"), status),
    ("POST", re.compile(r"/deployments/(?P<id>.+)/drain"), drain),
    ("POST", re.compile(r"/deployments/(?P<id>.+)/undrain"), undrain),
    ("GET", re.compile(r"/events"), events),
    ("POST", re.compile(r"/config/reload"), config_reload),
    *FLAG_ROUTES,  # GET /flags, POST /flags/{name}/rollout|kill|..., see admin_flags
    *CACHE_ROUTES,  # GET /cache, POST /cache/clear, see admin_cache
    *RATELIMIT_ROUTES,  # GET /ratelimit, POST /ratelimit/reset, see admin_ratelimit
]


async def admin(scope: Scope, receive: Receive, send: Send) -> None:
    gw = services(scope)
    if gw.admin_token is None:
        raise ApiError(404, "the admin API is off: set the environment variable "
                            f"{gw.config.gateway.admin_token_env} to enable it")
    auth = header(scope, b"authorization") or b""
    if not auth.startswith(b"Bearer ") or not hmac.compare_digest(auth[7:], gw.admin_token):
        raise ApiError(401, "the admin API needs `Authorization: Bearer <admin token>`",
                       type="authentication_error", code="invalid_admin_token")
    path = scope["path"][len("/admin"):]
    allowed = []
    for method, pattern, handler in ROUTES:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        if method == scope["method"]:
            return await handler(gw, scope, receive, send, m)
        allowed.append(method)
    if allowed:
        raise ApiError(405, f"{scope['method']} is not allowed here; use {', '.join(allowed)}",
                       headers=[(b"allow", ", ".join(allowed).encode())])
    raise ApiError(404, f"no admin endpoint {scope['method']} {scope['path']}")


def _deployment(gw: Services, m: re.Match) -> str:
    dep = m["id"]
    if dep not in gw.engine.deployments:
        raise ApiError(404, f"unknown deployment {dep!r}", code="deployment_not_found")
    return dep
