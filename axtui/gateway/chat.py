"""POST /v1/chat/completions: parse, admit the caller's key, hand the request to the engine,
shape its answer. The engine does the routing, failover and recording.

A client that disconnects cancels the engine call (the engine records `cancelled` and
closes the upstream): a watch on `receive()` (no task: see answering.Watch) sees `http.disconnect`
and cancels the handler. A stream fails over until its first chunk, before any header is sent,
so the headers can name the deployment; an error after that is one SSE `data: {"error"}`
event, then the stream closes without `[DONE]`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from axtui.engine.engine import RequestContext, RoutingError
from axtui.gateway.answering import (
    Watch,
    admit,
    cache_header,
    context,
    own_ms,
    read_head,
    routing_error,
    shutdown,
    trail,
)
from axtui.gateway.asgi import (
    JSON,
    SSE,
    Receive,
    Scope,
    Send,
    read_body,
    respond,
    respond_error,
)
from axtui.gateway.errors import ApiError, for_kind
from axtui.gateway.services import Services, services
from axtui.gateway.wire import DONE, ChatCall, ChunkFrames, completion_body, parse_chat

if TYPE_CHECKING:
    from axtui.gateway.keys import CallerKey

log = logging.getLogger(__name__)


async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    t0 = time.perf_counter()
    gw = services(scope)
    head = read_head(gw, scope)
    key = gw.authenticate(head.auth)
    if head.ctype is not None and b"json" not in head.ctype.split(b";", 1)[0]:
        raise ApiError(415, "Content-Type must be application/json",
                       code="unsupported_media_type")
    raw = await read_body(receive, head.clen, gw.max_body_bytes, gw.body_timeout_s)
    call = parse_chat(raw, gw.max_json_depth)
    req = call.request
    ctx = context(gw, head, key, req.user)
    admit(gw, key, req.model, ctx, lambda kind, message: gw.reject(req, ctx, kind, message))
    if req.stream:
        await _stream(gw, call, ctx, key, t0, receive, send)
    else:
        await _complete(gw, call, ctx, key, t0, receive, send)


async def _complete(gw: Services, call: ChatCall, ctx: RequestContext, key: CallerKey | None,
                    t0: float, receive: Receive, send: Send) -> None:
    watch = Watch(receive)
    started = False
    try:
        try:
            result = await gw.engine.complete(call.request, ctx)
        except RoutingError as e:
            watch.stop()
            raise routing_error(gw, e, ctx, key, t0) from None
        watch.stop()
        rec = result.record
        body = completion_body(result.response, "chatcmpl-" + rec.id, int(rec.started_at),
                               call.request.model)
        headers = JSON + trail(rec, rec.deployment, len(rec.attempts), own_ms(rec, t0))
        if gw.engine.cache is not None:
            headers += cache_header(gw, rec.cache, rec.route)
        started = True
        await respond(send, 200, body, headers + gw.ratelimit_headers(ctx.user, key, ctx))
    except asyncio.CancelledError:
        if not watch.absorb() and not started:
            await respond_error(send, shutdown(ctx.request_id))
    finally:
        watch.stop()


async def _stream(gw: Services, call: ChatCall, ctx: RequestContext, key: CallerKey | None,
                  t0: float, receive: Receive, send: Send) -> None:
    s = gw.engine.stream(call.request, ctx)
    watch = Watch(receive)
    started = False
    try:
        t_start = time.perf_counter()
        try:
            await s.start()
        except RoutingError as e:
            watch.stop()
            raise routing_error(gw, e, ctx, key, t0) from None
        t_first = time.perf_counter()
        rid = ctx.request_id or ""
        frames = ChunkFrames("chatcmpl-" + rid, int(time.time()), call.request.model,
                             call.include_usage)
        # The engine exposes no per-attempt start for streams: all of start() counts as
        # upstream time (the routing decision inside it takes microseconds).
        overhead = (t_start - t0 + time.perf_counter() - t_first) * 1000.0
        headers = SSE + trail(None, s.deployment, s.attempts, overhead, rid, s.route)
        if gw.engine.cache is not None:
            headers += cache_header(gw, s.cache, s.route)
        started = True
        await send({"type": "http.response.start", "status": 200,
                    "headers": headers + gw.ratelimit_headers(ctx.user, key, ctx)})
        try:
            async for chunk in s:
                await send({"type": "http.response.body", "body": frames.chunk(chunk),
                            "more_body": True})
        except RoutingError as e:
            watch.stop()
            err = for_kind(e.kind, e.status, e.record.error or str(e.kind))
            await send({"type": "http.response.body", "body": frames.error(err)})
            return
        watch.stop()
        usage = s.record.usage if s.record is not None else None
        tail = frames.usage(usage) + DONE if call.include_usage and usage else DONE
        await send({"type": "http.response.body", "body": tail})
    except asyncio.CancelledError:
        await s.aclose()  # records `cancelled` now, before anything else can interleave
        if not watch.absorb():
            if started:
                err = shutdown(ctx.request_id)
                await send({"type": "http.response.body", "body": frames.error(err)})
            else:
                await respond_error(send, shutdown(ctx.request_id))
    except OSError as e:  # the transport broke under a send: the client is gone
        log.debug("stream %s: the client went away: %s", ctx.request_id, e)
    finally:
        watch.stop()
        if s.record is None:  # however we got here, the stream ends with its one record
            await s.aclose()


