"""POST /v1/messages: Anthropic's Messages API over the same engine and routes as
/v1/chat/completions. The request is translated to the engine's (anthropic_request.py) and
the answer back (anthropic_answer.py), whichever provider served it; `model` names a route.

Callers authenticate as Anthropic clients do, `x-api-key: <key>` (or `Authorization:
Bearer <key>`), with the gateway's own caller keys. Errors are Anthropic's body and
statuses (a 503 of the chat face is Anthropic's 529 overloaded_error here): app.py renders
the ApiErrors these routes raise with respond_anthropic_error. Records carry `face:
"anthropic"` and the status the caller got (529, not the chat face's 503). Streams fail
over until the first chunk, as chat's do; the disconnect watch, headers and routing errors
are chat's (chat.py).

POST /v1/messages/count_tokens answers the engine's own estimate (no upstream is called).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from axtui.engine.engine import RequestContext, RoutingError
from axtui.engine.tokens import estimate_prompt
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
from axtui.gateway.anthropic_answer import (
    STATUSES,
    MessageEvents,
    error_body,
    error_event,
    message_body,
)
from axtui.gateway.anthropic_request import MessagesCall, parse_count, parse_messages
from axtui.gateway.asgi import (
    JSON,
    SSE,
    Header,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    respond,
    respond_json,
)
from axtui.gateway.errors import ApiError, for_kind, unauthorized
from axtui.gateway.services import Services, services

if TYPE_CHECKING:
    from axtui.gateway.keys import CallerKey

log = logging.getLogger(__name__)

FACE = "anthropic"


async def count_tokens(scope: Scope, receive: Receive, send: Send) -> None:
    gw = services(scope)
    _caller(gw, scope)
    raw = await read_body(receive, header(scope, b"content-length"), gw.max_body_bytes,
                          gw.body_timeout_s)
    tokens, _, _ = estimate_prompt(parse_count(raw, gw.max_json_depth))
    await respond_json(send, {"input_tokens": tokens})


async def respond_anthropic_error(send: Send, err: ApiError) -> None:
    rid = next((v.decode() for k, v in err.headers if k == b"x-request-id"), None)
    status, body = error_body(err, rid)
    extra: list[Header] = [(b"request-id", rid.encode())] if rid else []
    await respond(send, status, body, JSON + err.headers + extra)


def _caller(gw: Services, scope: Scope) -> CallerKey | None:
    """The caller's key from `x-api-key` (Anthropic's header) or `Authorization: Bearer`."""
    if not gw.keys.auth_required:
        return None
    api_key = header(scope, b"x-api-key")
    if api_key:
        return gw.authenticate(b"Bearer " + api_key.strip())
    auth = header(scope, b"authorization")
    if auth is None or not auth.startswith(b"Bearer "):
        raise unauthorized("x-api-key header is required (or Authorization: Bearer <key>)")
    return gw.authenticate(auth)


async def messages(scope: Scope, receive: Receive, send: Send) -> None:
    t0 = time.perf_counter()
    gw = services(scope)
    head = read_head(gw, scope)
    key = _caller(gw, scope)
    if head.ctype is not None and b"json" not in head.ctype.split(b";", 1)[0]:
        raise ApiError(415, "Content-Type must be application/json")
    raw = await read_body(receive, head.clen, gw.max_body_bytes, gw.body_timeout_s)
    call = parse_messages(raw, gw.max_json_depth)
    req = call.request
    ctx = context(gw, head, key, req.user, FACE, STATUSES)
    admit(gw, key, req.model, ctx, lambda kind, message: gw.reject(req, ctx, kind, message))
    if req.stream:
        await _stream(gw, call, ctx, key, t0, receive, send)
    else:
        await _complete(gw, call, ctx, key, t0, receive, send)


def _ignored(call: MessagesCall) -> list[Header]:
    """What the request asked for that no provider was told: said, never dropped silently."""
    return [(b"x-axtui-ignored", ",".join(call.ignored).encode())] if call.ignored else []


async def _complete(gw: Services, call: MessagesCall, ctx: RequestContext,
                    key: CallerKey | None, t0: float, receive: Receive, send: Send) -> None:
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
        try:
            body = message_body(result.response, "msg_" + rec.id, call.request.model)
        except ApiError as e:
            log.warning("request %s: %s", rec.id, e.message)
            e.headers.append((b"x-request-id", rec.id.encode()))
            raise
        headers = JSON + trail(rec, rec.deployment, len(rec.attempts), own_ms(rec, t0))
        headers += [(b"request-id", rec.id.encode()), *_ignored(call)]
        headers += cache_header(gw, rec.cache, rec.route)
        started = True
        await respond(send, 200, body, headers + gw.ratelimit_headers(ctx.user, key, ctx))
    except asyncio.CancelledError:
        if not watch.absorb() and not started:
            await respond_anthropic_error(send, shutdown(ctx.request_id))
    finally:
        watch.stop()


async def _stream(gw: Services, call: MessagesCall, ctx: RequestContext,
                  key: CallerKey | None, t0: float, receive: Receive, send: Send) -> None:
    request = call.request
    s = gw.engine.stream(request, ctx)
    watch = Watch(receive)
    started = False
    rid = ctx.request_id or ""
    events = MessageEvents("msg_" + rid, request.model)
    try:
        t_start = time.perf_counter()
        try:
            await s.start()
        except RoutingError as e:
            watch.stop()
            raise routing_error(gw, e, ctx, key, t0) from None
        t_first = time.perf_counter()
        overhead = (t_start - t0 + time.perf_counter() - t_first) * 1000.0
        headers = SSE + trail(None, s.deployment, s.attempts, overhead, rid, s.route)
        headers += [(b"request-id", rid.encode()), *_ignored(call)]
        headers += cache_header(gw, s.cache, s.route)
        started = True
        await send({"type": "http.response.start", "status": 200,
                    "headers": headers + gw.ratelimit_headers(ctx.user, key, ctx)})
        head = events.start(estimate_prompt(request)[0])  # sent with the first chunk's frames
        try:
            async for chunk in s:
                frames = events.chunk(chunk)
                if head:
                    frames, head = head + frames, b""
                if frames:
                    await send({"type": "http.response.body", "body": frames, "more_body": True})
        except RoutingError as e:
            watch.stop()
            err = for_kind(e.kind, e.status, e.record.error or str(e.kind))
            await send({"type": "http.response.body", "body": head + error_event(err)})
            return
        watch.stop()
        usage = s.record.usage if s.record is not None else None
        await send({"type": "http.response.body", "body": head + events.end(usage)})
    except asyncio.CancelledError:
        await s.aclose()  # records `cancelled` now, before anything else can interleave
        if not watch.absorb():
            if started:
                await send({"type": "http.response.body",
                            "body": error_event(shutdown(ctx.request_id))})
            else:
                await respond_anthropic_error(send, shutdown(ctx.request_id))
    except OSError as e:  # the transport broke under a send: the client is gone
        log.debug("stream %s: the client went away: %s", ctx.request_id, e)
    finally:
        watch.stop()
        if s.record is None:  # however we got here, the stream ends with its one record
            await s.aclose()
