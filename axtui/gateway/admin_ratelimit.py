"""Caller quotas on the admin API: where one caller's windows stand, and a reset.

Without `[redis]` the counters live in this gateway process alone, so `axtui ratelimit`
asks the running gateway here; with it they live in Redis (shared by the fleet) and these
endpoints read and reset them there, as the CLI can do directly.

    GET  /admin/ratelimit?scope=ip&who=10.0.0.7   one caller (no scope: global and every
                                                  route quota); scope: user|key|ip|route|global
    POST /admin/ratelimit/reset                   {"scope": "ip", "who": "10.0.0.7", "by": ...}
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import parse_qs

from axtui.engine.limits import GLOBAL, SCOPES
from axtui.fleet.link import Unavailable
from axtui.gateway.admin_input import by_whom, json_body
from axtui.gateway.asgi import Receive, Scope, Send, respond_json
from axtui.gateway.errors import ApiError, bad_request
from axtui.gateway.services import Services

_CONFIG_NAME = {"user": "per_user", "key": "per_key", "ip": "per_ip", "global": "global",
                "route": "per_route.NAME"}


def selector(quotas: Any, routes: Any, scope: Any, who: Any) -> tuple[str, str]:
    """A checked (scope, who): a 400 naming what is wrong, or a 404 when no quota of
    that scope applies to the caller."""
    if scope not in SCOPES:
        raise bad_request(f"scope: expected one of {', '.join(SCOPES)}", "scope")
    if scope == "global":
        who = GLOBAL
    elif not isinstance(who, str) or not who.strip():
        raise bad_request(f"who: a {scope} quota needs the {scope} it counts", "who")
    who = who.strip()
    if scope == "ip":
        try:
            who = str(ipaddress.ip_address(who))
        except ValueError:
            raise bad_request(f"who: {who!r} is not an IP address", "who") from None
    if scope == "route" and who not in routes:
        raise ApiError(404, f"unknown route {who!r}; routes: {', '.join(sorted(routes))}",
                       code="route_not_found")
    if quotas.limits_of(scope, who) is None:
        raise ApiError(404, f"no {scope} quota applies to {who!r} "
                            f"(configure [quotas.{_CONFIG_NAME[scope]}])", code="no_quota")
    return scope, who


def source(gw: Services) -> str:
    return "redis" if hasattr(gw.engine.quotas, "link") else "process"


async def status(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    quotas = gw.engine.quotas
    if q.get("scope"):
        wanted = [selector(quotas, gw.engine.routes, q["scope"][0], q.get("who", [None])[0])]
    else:
        wanted = [("global", GLOBAL)] if quotas.limits_of("global", GLOBAL) else []
        wanted += [("route", r) for r in sorted(quotas.per_route)]
    try:
        found = [quotas.status(s, w) for s, w in wanted]
    except Unavailable as e:
        raise ApiError(503, f"redis is unavailable: {e}", type="server_error",
                       code="redis_unavailable") from None
    await respond_json(send, {"source": source(gw), "quotas": found})


async def reset(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    body = await json_body(scope, receive)
    s, who = selector(gw.engine.quotas, gw.engine.routes, body.get("scope"), body.get("who"))
    by = by_whom(body)
    try:
        counted = gw.engine.quotas.reset(s, who)
    except Unavailable as e:
        raise ApiError(503, f"redis is unavailable: {e}", type="server_error",
                       code="redis_unavailable") from None
    # audited like drains: the event log says who reset whose quota
    gw.engine._emit_event("quota_reset", f"{s}:{who}", {"by": by, "source": source(gw),
                                                        "was_counted": counted})
    await respond_json(send, {"scope": s, "who": who, "reset": True, "was_counted": counted,
                              "by": by, "source": source(gw)})


RATELIMIT_ROUTES = [
    ("GET", re.compile(r"/ratelimit"), status),
    ("POST", re.compile(r"/ratelimit/reset"), reset),
]
