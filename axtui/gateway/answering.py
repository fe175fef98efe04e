"""What every face's handler shares (chat completions, Anthropic's messages, audio
transcriptions): the request headers they read, the caller's context and the key's
admission, the watch that cancels a handler when its client leaves, the x-axtui-* headers
that say what happened to a request, and the engine's refusals as API errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from axtui.engine.engine import RequestContext, RoutingError
from axtui.gateway.asgi import Header, Receive, Scope
from axtui.gateway.errors import ApiError, for_kind
from axtui.gateway.services import Services
from axtui.records import ErrorKind, RequestRecord

if TYPE_CHECKING:
    from axtui.gateway.keys import CallerKey

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Head:
    """The request headers every face reads, in one pass over them."""

    auth: bytes | None = None
    ctype: bytes | None = None
    clen: bytes | None = None
    tags: list[str] = field(default_factory=list)
    region: str | None = None  # x-axtui-region, lower-cased
    picked: dict[str, str] = field(default_factory=dict)  # the ones routing rules match on
    ip: str | None = None  # the client's address (client_ip.py)


def read_head(gw: Services, scope: Scope) -> Head:
    h = Head()
    rule_headers = gw.rule_headers
    forwarded: bytes | None = None
    for k, v in scope["headers"]:
        if k == b"authorization":
            h.auth = v
        elif k == b"content-type":
            h.ctype = v
        elif k == b"content-length":
            h.clen = v
        elif k == b"x-axtui-tags":
            h.tags = [t.strip() for t in v.decode("latin-1").split(",") if t.strip()]
        elif k == b"x-forwarded-for":
            forwarded = v if forwarded is None else forwarded + b"," + v
        elif k == b"x-axtui-region":
            h.region = v.decode("latin-1").strip().lower() or None
        elif rule_headers and k in rule_headers:
            h.picked[k.decode("latin-1")] = v.decode("latin-1")
    h.ip = gw.client_ip.resolve(scope.get("client"), forwarded)
    return h


def context(gw: Services, head: Head, key: CallerKey | None, user: str | None,
            face: str | None = None, statuses: dict[int, int] | None = None
            ) -> RequestContext:
    region, required = head.region, False
    if key is not None:
        region = region or key.region
        required = key.region_policy == "require"
    return RequestContext(request_id=gw.next_id(), user=user,
                          key_id=key.id if key is not None else None, ip=head.ip,
                          headers=head.picked, tags=head.tags, face=face, statuses=statuses,
                          region=region, region_required=required)


def admit(gw: Services, key: CallerKey | None, model: str, ctx: RequestContext,
          reject: Callable[[ErrorKind, str], RequestRecord]) -> None:
    """Raise the caller's key's refusal of `model` (allow-list, rpm, budget) as an API
    error, after `reject(kind, message)` has recorded it."""
    if key is None:
        return
    if key.region_policy == "require" and key.region is not None \
            and ctx.region != key.region:  # the header may not move a locked key's requests
        message = (f"key {key.name} is served only in region {key.region}; "
                   f"x-axtui-region asks for {ctx.region}")
        record = reject(ErrorKind.bad_request, message)
        err = for_kind(ErrorKind.bad_request, record.status, message, None)
        err.headers.append((b"x-request-id", record.id.encode()))
        raise err
    refusal = gw.keys.admit(key, model)
    if refusal is None:
        return
    message = refusal.message
    if refusal.kind is ErrorKind.no_route:  # the same 404 as an unknown route
        message = gw.no_such_model(model, key)
    record = reject(refusal.kind, message)
    err = for_kind(refusal.kind, record.status, message, refusal.retry_after_s)
    err.headers.append((b"x-request-id", record.id.encode()))
    err.headers += gw.ratelimit_headers(ctx.user, key, ctx)
    raise err


class Watch:
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


def shutdown(request_id: str | None) -> ApiError:
    return ApiError(503, "the gateway cancelled this request before it finished: it is "
                         "shutting down", type="server_error", code="shutting_down",
                    headers=[(b"x-request-id", (request_id or "").encode())])


def own_ms(rec: RequestRecord, t0: float) -> float:
    """The gateway's own time: all of it minus the attempts and the backoffs between them."""
    upstream = sum(a.latency_ms + a.backoff_ms for a in rec.attempts)
    return max(0.0, (time.perf_counter() - t0) * 1000.0 - upstream)


def trail(rec: RequestRecord | None, deployment: str | None, attempts: int, overhead: float,
           rid: str | None = None, route: str | None = None) -> list[Header]:
    """x-axtui-* headers: what happened to the request."""
    h = [
        (b"x-request-id", (rid or rec.id).encode()),
        (b"x-axtui-route", echo(route or rec.route)),
        (b"x-axtui-attempts", str(attempts).encode()),
        (b"x-axtui-overhead-ms", f"{overhead:.3f}".encode()),
    ]
    if deployment:
        h.append((b"x-axtui-deployment", echo(deployment)))
    return h


def cache_header(gw: Services, hit: str | None, route: str | None) -> list[Header]:
    """x-axtui-cache: hit (served from the response cache), or miss on a route that caches."""
    cache = gw.engine.cache
    if hit is not None:
        return [(b"x-axtui-cache", b"hit")]
    if cache is not None and route is not None and cache.caches(route):
        return [(b"x-axtui-cache", b"miss")]
    return []


def echo(name: str) -> bytes:
    """A name as a header value: control characters (which would make uvicorn drop the
    connection) never reach a header; parse_chat refuses them in `model` already."""
    return name.encode() if name.isprintable() else name.encode("unicode_escape")


def routing_error(gw: Services, e: RoutingError, ctx: RequestContext,
                   key: CallerKey | None, t0: float) -> ApiError:
    rec = e.record
    message = rec.error or str(e.kind)
    if e.kind is ErrorKind.no_route:
        message = gw.no_such_model(rec.requested_route, key)
    err = for_kind(e.kind, e.status, message, e.retry_after_s)
    last = rec.attempts[-1].deployment if rec.attempts else None
    err.headers += trail(rec, last, len(rec.attempts), own_ms(rec, t0))
    err.headers += gw.ratelimit_headers(ctx.user, key, ctx)
    return err
