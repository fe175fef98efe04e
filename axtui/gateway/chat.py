"""POST /v1/chat/completions: parse, admit the caller's key, hand the request to the engine,
shape its answer. The engine does the routing, failover and recording.

A client that disconnects cancels the engine call (the engine records `cancelled` and
closes the upstream): a watch on `receive()` (no task: see _Watch) sees `http.disconnect`
and cancels the handler. A stream fails over until its first chunk, before any header is sent,
so the headers can name the deployment; an error after that is one SSE `data: {"error"}`
event, then the stream closes without `[DONE]`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from axtui.engine.engine import RequestContext, RoutingError
from axtui.gateway.asgi import (
    JSON,
    SSE,
    Header,
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
from axtui.records import ErrorKind, RequestRecord

if TYPE_CHECKING:
    from axtui.gateway.keys import CallerKey

log = logging.getLogger(__name__)


class _Watch:
    """Cancels the handler when the client goes away; `gone` tells that cancel apart.

    No task of its own: it steps the `receive()` coroutine by hand, up to the future that
    coroutine waits on (uvicorn's message event), and resumes it from that future's done
    callback. A watcher task cost a task, a loop step to start and another to cancel, per
    request; this costs one future callback."""

    __slots__ = ("gone", "task", "_receive", "_coro")

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self.task = asyncio.current_task()
        self._receive = receive
        self._coro: Any = None
        self._listen()

    def _listen(self) -> None:
        """Call receive() and run it until it waits; a message already there is read now."""
        for _ in range(64):  # a receive() that never waits is not one to watch
            if not self._step(self._receive()):
                return

    def _resume(self, _: asyncio.Future[Any]) -> None:
        coro, self._coro = self._coro, None
        if coro is not None and self._step(coro):  # None: stopped meanwhile
            self._listen()

    def _step(self, coro: Any) -> bool:
        """Advance receive(): True when it returned a message that is not a disconnect (so
        listen again), False when it waits (on a future this watch now holds) or is done."""
        try:
            waiting = coro.send(None)
        except StopIteration as done:
            if done.value["type"] != "http.disconnect":
                return True
            self.gone = True
            assert self.task is not None
            self.task.cancel()
            return False
        except (Exception, asyncio.CancelledError):  # receive() broke: nothing to watch
            log.debug("the disconnect watch stopped", exc_info=True)
            return False
        if not asyncio.isfuture(waiting):  # not asyncio's receive: leave it be
            coro.close()
            return False
        waiting._asyncio_future_blocking = False  # this watch, not a task, waits on it
        self._coro = coro
        waiting.add_done_callback(self._resume)
        return False

    def stop(self) -> None:
        """Called with no await since the handler last resumed, so no cancel is pending."""
        coro, self._coro = self._coro, None
        if coro is not None:
            coro.close()  # receive() stops waiting (uvicorn drops its waiter)

    def absorb(self) -> bool:
        """In an `except CancelledError`: undo the cancel (the engine has recorded it) and
        say whether the client left (True: nothing more to send) or the server cancelled
        the request (False: shutting down past its grace period; tell the client)."""
        assert self.task is not None
        self.task.uncancel()
        return self.gone


def _shutdown(request_id: str | None) -> ApiError:
    return ApiError(503, "the gateway cancelled this request before it finished: it is "
                         "shutting down", type="server_error", code="shutting_down",
                    headers=[(b"x-request-id", (request_id or "").encode())])


async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    t0 = time.perf_counter()
    gw = services(scope)
    auth = ctype = clen = tags = None
    rule_headers = gw.rule_headers
    picked: dict[str, str] = {}
    for k, v in scope["headers"]:
        if k == b"authorization":
            auth = v
        elif k == b"content-type":
            ctype = v
        elif k == b"content-length":
            clen = v
        elif k == b"x-axtui-tags":
            tags = v
        elif rule_headers and k in rule_headers:
            picked[k.decode("latin-1")] = v.decode("latin-1")
    key = gw.authenticate(auth)
    if ctype is not None and b"json" not in ctype.split(b";", 1)[0]:
        raise ApiError(415, "Content-Type must be application/json",
                       code="unsupported_media_type")
    raw = await read_body(receive, clen, gw.max_body_bytes, gw.body_timeout_s)
    call = parse_chat(raw, gw.max_json_depth)
    req = call.request
    ctx = RequestContext(
        request_id=gw.next_id(), user=req.user, key_id=key.id if key is not None else None,
        headers=picked,
        tags=[t.strip() for t in tags.decode("latin-1").split(",") if t.strip()] if tags else [],
    )
    if key is not None:
        refusal = gw.keys.admit(key, req.model)
        if refusal is not None:
            message = refusal.message
            if refusal.kind is ErrorKind.no_route:  # the same 404 as an unknown route
                message = gw.no_such_model(req.model, key)
            record = gw.reject(req, ctx, refusal.kind, message)
            err = for_kind(refusal.kind, record.status, message, refusal.retry_after_s)
            err.headers.append((b"x-request-id", record.id.encode()))
            err.headers += gw.ratelimit_headers(ctx.user, key)
            raise err
    if req.stream:
        await _stream(gw, call, ctx, key, t0, receive, send)
    else:
        await _complete(gw, call, ctx, key, t0, receive, send)


async def _complete(gw: Services, call: ChatCall, ctx: RequestContext, key: CallerKey | None,
                    t0: float, receive: Receive, send: Send) -> None:
    watch = _Watch(receive)
    started = False
    try:
        try:
            result = await gw.engine.complete(call.request, ctx)
        except RoutingError as e:
            watch.stop()
            raise _routing_error(gw, e, ctx, key, t0) from None
        watch.stop()
        rec = result.record
        body = completion_body(result.response, "chatcmpl-" + rec.id, int(rec.started_at),
                               call.request.model)
        headers = JSON + _trail(rec, rec.deployment, len(rec.attempts), _overhead(rec, t0))
        if gw.engine.cache is not None:
            headers += cache_header(gw, rec.cache, rec.route)
        started = True
        await respond(send, 200, body, headers + gw.ratelimit_headers(ctx.user, key))
    except asyncio.CancelledError:
        if not watch.absorb() and not started:
            await respond_error(send, _shutdown(ctx.request_id))
    finally:
        watch.stop()


async def _stream(gw: Services, call: ChatCall, ctx: RequestContext, key: CallerKey | None,
                  t0: float, receive: Receive, send: Send) -> None:
    s = gw.engine.stream(call.request, ctx)
    watch = _Watch(receive)
    started = False
    try:
        t_start = time.perf_counter()
        try:
            await s.start()
        except RoutingError as e:
            watch.stop()
            raise _routing_error(gw, e, ctx, key, t0) from None
        t_first = time.perf_counter()
        rid = ctx.request_id or ""
        frames = ChunkFrames("chatcmpl-" + rid, int(time.time()), call.request.model,
                             call.include_usage)
        # The engine exposes no per-attempt start for streams: all of start() counts as
        # upstream time (the routing decision inside it takes microseconds).
        overhead = (t_start - t0 + time.perf_counter() - t_first) * 1000.0
        headers = SSE + _trail(None, s.deployment, s.attempts, overhead, rid, s.route)
        if gw.engine.cache is not None:
            headers += cache_header(gw, s.cache, s.route)
        started = True
        await send({"type": "http.response.start", "status": 200,
                    "headers": headers + gw.ratelimit_headers(ctx.user, key)})
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
                err = _shutdown(ctx.request_id)
                await send({"type": "http.response.body", "body": frames.error(err)})
            else:
                await respond_error(send, _shutdown(ctx.request_id))
    except OSError as e:  # the transport broke under a send: the client is gone
        log.debug("stream %s: the client went away: %s", ctx.request_id, e)
    finally:
        watch.stop()
        if s.record is None:  # however we got here, the stream ends with its one record
            await s.aclose()


def _overhead(rec: RequestRecord, t0: float) -> float:
    """The gateway's own time: all of it minus the attempts and the backoffs between them."""
    upstream = sum(a.latency_ms + a.backoff_ms for a in rec.attempts)
    return max(0.0, (time.perf_counter() - t0) * 1000.0 - upstream)


def _trail(rec: RequestRecord | None, deployment: str | None, attempts: int, overhead: float,
           rid: str | None = None, route: str | None = None) -> list[Header]:
    """x-axtui-* headers: what happened to the request."""
    h = [
        (b"x-request-id", (rid or rec.id).encode()),
        (b"x-axtui-route", _echo(route or rec.route)),
        (b"x-axtui-attempts", str(attempts).encode()),
        (b"x-axtui-overhead-ms", f"{overhead:.3f}".encode()),
    ]
    if deployment:
        h.append((b"x-axtui-deployment", _echo(deployment)))
    return h


def cache_header(gw: Services, hit: str | None, route: str | None) -> list[Header]:
    """x-axtui-cache: hit (served from the response cache), or miss on a route that caches."""
    cache = gw.engine.cache
    if hit is not None:
        return [(b"x-axtui-cache", b"hit")]
    if cache is not None and route is not None and cache.caches(route):
        return [(b"x-axtui-cache", b"miss")]
    return []


def _echo(name: str) -> bytes:
    """A name as a header value: control characters (which would make uvicorn drop the
    connection) never reach a header; parse_chat refuses them in `model` already."""
    return name.encode() if name.isprintable() else name.encode("unicode_escape")


def _routing_error(gw: Services, e: RoutingError, ctx: RequestContext,
                   key: CallerKey | None, t0: float) -> ApiError:
    rec = e.record
    message = rec.error or str(e.kind)
    if e.kind is ErrorKind.no_route:
        message = gw.no_such_model(rec.requested_route, key)
    err = for_kind(e.kind, e.status, message, e.retry_after_s)
    last = rec.attempts[-1].deployment if rec.attempts else None
    err.headers += _trail(rec, last, len(rec.attempts), _overhead(rec, t0))
    err.headers += gw.ratelimit_headers(ctx.user, key)
    return err
