"""The response cache on the admin API: this gateway's live counts, and a clear that goes
through the control plane (the same entry `axtui cache clear` writes), applied here before
answering and by other gateways sharing the store within one poll.

    GET  /admin/cache           per caching route: entries, bytes, lookups, hits, skips, saving
    POST /admin/cache/clear     {"route": "..." (default: every route), "by": "..."}
"""

from __future__ import annotations

import re

from axtui.cache.control import clear as clear_cache
from axtui.gateway.admin_input import by_whom, json_body
from axtui.gateway.asgi import Receive, Scope, Send, respond_json
from axtui.gateway.errors import ApiError, bad_request
from axtui.gateway.services import Services


async def stats(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    cache = gw.engine.cache
    await respond_json(send, {"routes": cache.stats() if cache is not None else {}})


async def clear(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    body = await json_body(scope, receive)
    route = body.get("route")
    cache = gw.engine.cache
    caching = sorted(cache.routes) if cache is not None else []
    if route is not None and not isinstance(route, str):
        raise bad_request("route: expected a route name", "route")
    if route is not None and route not in caching:
        raise ApiError(404, f"route {route!r} has no cache; routes that cache: "
                            f"{', '.join(caching) or 'none'}", code="route_not_found")
    if not caching:
        raise ApiError(404, "no route caches: nothing to clear", code="route_not_found")
    by = by_whom(body)
    version = await gw.host.write_control(clear_cache, route, by)
    await respond_json(send, {"routes": [route] if route else caching, "cleared": True,
                              "by": by, "version": version})


CACHE_ROUTES = [
    ("GET", re.compile(r"/cache"), stats),
    ("POST", re.compile(r"/cache/clear"), clear),
]
