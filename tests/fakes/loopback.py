"""A scriptable loopback HTTP server that vendor fakes build on.

A real aiohttp server on 127.0.0.1 with an ephemeral port, used as an async context
manager. Each request is recorded, checked by the vendor (auth, required fields), then
answered by the next scripted reply or, when the script is empty, by the default answer.
Replies are wire-level (`Reply`): status, headers, a body or SSE frames, delays, and an
optional cut that closes the connection mid-response. Importable without pytest.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

# the wire helpers are the sim's (axtui/sim/wire), re-exported for the vendor fakes
from axtui.sim.wire import approx_tokens, fragments, pieces, sse, text_of  # noqa: F401


@dataclass(slots=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None when the body was not JSON
    raw: bytes


@dataclass(slots=True)
class Reply:
    """One HTTP answer as it goes on the wire."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = "application/json"
    events: list[bytes] | None = None  # SSE frames, written one at a time
    delay_s: float = 0.0  # before the status line
    event_delay_s: float = 0.0  # before each SSE frame from `slow_from` on
    slow_from: int = 0
    cut_after: int | None = None  # close the connection after this many frames (or half the body)


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(slots=True)
class Answer:
    """What the model says, before a vendor renders it as a body or a stream."""

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None  # in the vendor's own vocabulary
    prompt_tokens: int | None = None  # None: estimated from the request
    completion_tokens: int | None = None  # None: estimated from the answer
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # prompt tokens written to the cache (vendors that say so)
    stop_sequence: str | None = None  # the stop sequence that ended it (vendors that say so)


Script = Callable[[ReceivedRequest], Reply]


class LoopbackUpstream:
    """Base of the vendor fakes. Subclasses set `routes` and implement `check`, `render`."""

    routes: frozenset[tuple[str, str]] = frozenset()

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        record: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.latency_s = latency_s  # before the default answer's headers
        self.record = record  # off for benchmarks, so memory stays flat
        self.headers = dict(headers or {})  # sent with every response
        self.requests: list[ReceivedRequest] = []
        self.received = 0
        self.served = 0  # responses written in full (cut ones are not counted)
        self._script: deque[Script] = deque()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, backlog=1024).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- scripting

    def push(self, reply: Reply | Script) -> None:
        """Answer the next request with this (a Reply, or a function of the request)."""
        self._script.append(reply if callable(reply) else (lambda _rec, r=reply: r))

    def answer(
        self,
        text: str | None = None,
        *,
        tool_calls: list[ToolCall] | None = None,
        finish_reason: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        stop_sequence: str | None = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        event_delay_s: float = 0.0,
        slow_from: int = 0,
        cut_after: int | None = None,
    ) -> None:
        """A model answer, rendered as a body or a stream as the request asks. A stream
        waits `event_delay_s` before each frame from frame `slow_from` on."""
        ans = Answer(
            text,
            list(tool_calls or []),
            finish_reason,
            prompt_tokens,
            completion_tokens,
            cached_tokens,
            cache_write_tokens,
            stop_sequence,
        )

        def script(rec: ReceivedRequest) -> Reply:
            reply = self.render(ans, rec)
            reply.headers.update(headers or {})
            reply.delay_s, reply.event_delay_s, reply.slow_from = delay_s, event_delay_s, slow_from
            reply.cut_after = cut_after
            return reply

        self.push(script)

    def cut(self, text: str, *, after_events: int, **kw: Any) -> None:
        """An answer whose connection closes after `after_events` SSE frames (a stream) or
        half-way through the body (a plain response)."""
        self.answer(text, cut_after=after_events, **kw)

    def raw(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """A body sent exactly as given (malformed JSON, an HTML error page from a proxy)."""
        self.push(Reply(status, dict(headers or {}), body, content_type, delay_s=delay_s))

    # ---------------------------------------------------------------- vendor hooks

    def check(self, rec: ReceivedRequest) -> Reply | None:
        """A vendor error for a request the real API would refuse, else None."""
        return None

    def render(self, ans: Answer, rec: ReceivedRequest) -> Reply:
        raise NotImplementedError

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        raise NotImplementedError

    def not_found(self, rec: ReceivedRequest) -> Reply:
        return Reply(404, body=b'{"error": "not found"}')

    def next_id(self) -> int:
        return next(self._ids)

    # ---------------------------------------------------------------- serving

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        rec = ReceivedRequest(
            request.method,
            request.path,
            {k.lower(): v for k, v in request.headers.items()},
            body,
            raw,
        )
        self.received += 1
        if self.record:
            self.requests.append(rec)
        if (request.method, request.path) not in self.routes:
            reply = self.not_found(rec)
        else:
            reply = self.check(rec)
            if reply is None and self._script:
                reply = self._script.popleft()(rec)
            elif reply is None:
                reply = self.render(self.default_answer(rec), rec)
                reply.delay_s = self.latency_s
        return await self._send(request, reply)

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)
        headers = {**self.headers, **reply.headers}
        if reply.events is None:
            headers["content-type"] = reply.content_type
            if reply.cut_after is None:
                self.served += 1
                return web.Response(status=reply.status, body=reply.body, headers=headers)
            resp = web.StreamResponse(status=reply.status, headers=headers)
            resp.content_length = len(reply.body)
            await resp.prepare(request)
            await resp.write(reply.body[: len(reply.body) // 2])
            return self._close_connection(request, resp)
        headers["content-type"] = "text/event-stream; charset=utf-8"
        headers.setdefault("cache-control", "no-cache")
        resp = web.StreamResponse(status=reply.status, headers=headers)
        await resp.prepare(request)
        for i, frame in enumerate(reply.events):
            if reply.cut_after is not None and i >= reply.cut_after:
                return self._close_connection(request, resp)
            if reply.event_delay_s > 0 and i >= reply.slow_from:
                await asyncio.sleep(reply.event_delay_s)
            await resp.write(frame)
        await resp.write_eof()
        self.served += 1
        return resp

    @staticmethod
    def _close_connection(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
        # Closing the socket without finishing the body: the client sees a truncated response.
        assert request.transport is not None
        request.transport.close()
        return resp
