"""Run the gateway on uvicorn: one process, uvloop, httptools (each response in one write),
no access log.

SIGTERM (or Ctrl-C) stops accepting, lets in-flight requests finish for up to
`gateway.shutdown_grace_s` (then cancels them: the engine records each as `cancelled`),
runs the app's shutdown (the recorder writes every queued record), and exits 0.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from axtui.gateway.app import Gateway
from axtui.heap import tune_gc
from axtui.listening import CleanExitServer, bind

BACKLOG = 2048


def parse_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:4000`, `[::1]:4000`, `:4000` (all interfaces) → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:4000")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _Server(CleanExitServer):
    """The gateway's server: closes connections whose request headers are late."""

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's tick (every 0.1 s), and connections whose headers are late closed."""
        now = asyncio.get_running_loop().time()
        for conn in list(self.server_state.connections):
            if isinstance(conn, _Protocol) and conn.headers_late(now):
                conn.close_late()
        return await super().on_tick(counter)

    async def _wait_tasks_to_complete(self) -> None:
        try:
            await super()._wait_tasks_to_complete()
        except asyncio.CancelledError:  # the grace period is over: uvicorn cancels the rest
            app = self.config.app
            if isinstance(app, Gateway):
                app.past_grace()
            raise


class _HeadHeld:
    """A request's view of its connection's transport: the first write (the status line and
    headers) waits for the next (the body), so a whole response leaves in one write: one
    syscall and one segment, where uvicorn writes the head and the body apart (measured
    ~25 µs of CPU a write here, and a second wake-up of the client). A head with no body
    right behind it (a stream's, a HEAD's) goes out at the end of the loop step."""

    __slots__ = ("_transport", "_loop", "_head", "_first")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._first = True

    def write(self, data: bytes) -> None:
        if self._first:
            self._first = False
            self._head = data
            self._loop.call_soon(self.flush)
            return
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():  # the client may have left meanwhile
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...
        return getattr(self._transport, name)


_HEADER_TIMEOUT_BODY = (b'{"error":{"message":"the request headers did not arrive in time",'
                        b'"type":"invalid_request_error","param":null,"code":"request_timeout"}}')


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with two changes:
    - each request's cycle writes through a _HeadHeld;
    - a header-read timeout: a connection whose request headers are not all in within
      `header_timeout_s` of its opening (or of that request's first byte) gets a 408 and is
      closed. uvicorn has none: a silent or half-sent request held a connection for good.
      Each connection notes when it began waiting; _Server's tick (every 0.1 s) closes the
      late ones (a timer per request cost ~1-6 µs to arm and cancel; this costs one read
      of the loop's clock)."""

    header_timeout_s = 10.0  # make_server sets the config's on a subclass
    headers_since: float | None = None  # loop time the awaited headers began; None: not waiting

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.headers_since = self.loop.time()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.headers_since is None:  # a kept-alive connection's next request
            self.headers_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.headers_since = None
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = _HeadHeld(self.transport, self.loop)  # type: ignore[assignment]

    def headers_late(self, now: float) -> bool:
        since = self.headers_since
        return since is not None and now - since > self.header_timeout_s

    def close_late(self) -> None:
        """The headers did not arrive in time: a 408 and close (or, with an answer still
        being sent on this connection, close after it)."""
        self.headers_since = None
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # a pipelined request stalled: close after this answer
            return
        transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                        b"content-length: " + str(len(_HEADER_TIMEOUT_BODY)).encode()
                        + b"\r\nconnection: close\r\n\r\n" + _HEADER_TIMEOUT_BODY)
        transport.close()


def make_server(gateway: Gateway, host: str, port: int, *, loop: str = "uvloop") -> _Server:
    protocol = type("_Protocol", (_Protocol,),
                    {"header_timeout_s": gateway.config.gateway.header_timeout_s})
    config = uvicorn.Config(
        gateway,
        host=host,
        port=port,
        loop=loop,
        http=protocol,  # httptools, one write per response, a header-read timeout
        lifespan="on",
        access_log=False,  # no per-request logging: the store has every request
        log_level="warning",
        server_header=False,
        # no X-Forwarded-* rewriting: the gateway never uses the client address, and the
        # middleware parses it as an IP on every request (~3% of the event loop's time)
        proxy_headers=False,
        backlog=BACKLOG,
        workers=1,
        timeout_graceful_shutdown=gateway.config.gateway.shutdown_grace_s,
    )
    return _Server(config)


def serve(gateway: Gateway, listen: str, on_bound: Callable[[str, int], None] | None = None,
          *, sock: socket.socket | None = None) -> int:
    """Serve until SIGTERM/SIGINT. 0 after a clean shutdown, 1 if startup failed.
    `sock`: an already listening socket (a worker's, handed over by the supervisor)."""
    host, port = parse_listen(listen)
    if sock is None:
        # listening from now: a client that connects once the port is announced waits in
        # the backlog for startup, instead of being refused until uvicorn listens
        sock = bind(host, port, BACKLOG)
        if on_bound is not None:
            on_bound(host, sock.getsockname()[1])
    announce = gateway.on_ready

    def ready(gw: Gateway) -> None:
        if announce is not None:
            announce(gw)
        tune_gc()

    gateway.on_ready = ready
    server = make_server(gateway, host, port)
    server.run(sockets=[sock])
    return 0 if server.started else 1
