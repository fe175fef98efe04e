"""A small HTTP/1.1 client for the one call the JSON adapters make on every request: POST a
JSON body, read the whole response. It sits beside the shared httpx client (streams, and
every other request, keep httpx over aiohttp's transport).

Why not aiohttp: a gateway request's upstream call through aiohttp's session measured
~100-130 µs of CPU here, this ~20 µs (a raw asyncio protocol with httptools' parser, the
one uvicorn uses). And on Python 3.11 aiohttp writes the request body from a separate task,
a loop iteration later: under a burst, every request's send waited behind the whole
burst's handlers, so the upstream received (and answered) the burst together, and the
gateway kept seeing its requests in lock-step bunches. Here the request is written in the
caller's step.

What it does: keep-alive connections pooled per origin (most recently used first, closed
after `keepalive_s` idle), at most `max_connections` open in all (callers wait, within the
connect timeout, when all are busy); http and https (the same TLS context httpx would
build); `gzip`/`deflate` bodies decoded; 1xx interim responses skipped; a body delimited by
the connection's end read to its end. Bounded by the caller's deadline, a connect timeout
and a read timeout (between bytes), with one timer per request. A request that fails or is
cancelled closes its connection (so the upstream sees the caller go), and a connection is
reused only after a clean, complete, keep-alive response. A request on a reused connection
that is lost before any byte of an answer (the server closed it as we reused it) is sent
once more on a fresh connection. No redirects, proxies or cookies:
the call this replaces had none either.

Errors are `ProviderError`s of the kinds the transport errors always mapped to (connect,
timeout, malformed); the caller's own deadline raises `TimeoutError`, for the caller to
word.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httptools
import yarl

from axtui.providers.errors import ProviderError
from axtui.records import ErrorKind

log = logging.getLogger(__name__)

KEEPALIVE_S = 4.0  # below the 5 s many servers (uvicorn's default) keep an idle connection
_USER_AGENT = b"user-agent: axtui\r\n"
_ACCEPT_ENCODING = b"accept-encoding: gzip, deflate\r\n"
_OWN = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_BAD_HEADER_CHARS = frozenset("\r\n\0")


class Headers(dict[str, str]):
    """Response headers, names lowercased; `get` takes a name in any case. A repeated
    header's values are joined with `, `."""

    __slots__ = ()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, key.lower(), default)


@dataclass(slots=True)
class Response:
    status_code: int
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One URL, parsed once: where to connect and the request line with its Host."""

    key: tuple[str, str, int]  # scheme, host, port: the pool's per-origin key
    host: str
    port: int
    tls: bool
    head: bytes  # b"POST /path HTTP/1.1\r\nhost: ...\r\n"


@functools.lru_cache(maxsize=1024)
def endpoint(url: str) -> Endpoint | None:
    """The endpoint of an absolute http(s) URL, or None when this client does not take it
    (another scheme, user info in the URL)."""
    u = yarl.URL(url)
    if u.scheme not in ("http", "https") or not u.host or u.user is not None:
        return None
    port = u.port or (443 if u.scheme == "https" else 80)
    host = u.raw_host or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    host_header = host if u.is_default_port() else f"{host}:{port}"
    path = u.raw_path_qs or "/"
    head = f"POST {path} HTTP/1.1\r\nhost: {host_header}\r\n".encode("ascii")
    return Endpoint((u.scheme, u.host, port), u.host, port, u.scheme == "https", head)


@functools.lru_cache(maxsize=512)
def header_block(items: tuple[tuple[str, str], ...]) -> bytes:
    """The request's own header lines (the caller's, plus a user agent and the encodings
    we decode unless given), checked once per distinct set: a CR, LF or NUL in a name or
    value would let it forge headers, so it is refused."""
    lines, names = [], set()
    for name, value in items:
        low = name.lower()
        if low in _OWN and low != "host":
            continue  # framing is ours
        if _BAD_HEADER_CHARS.intersection(name) or _BAD_HEADER_CHARS.intersection(value):
            raise ValueError(f"header {name!r}: CR, LF or NUL in a header name or value")
        names.add(low)
        lines.append(f"{name}: {value}\r\n")
    block = "".join(lines).encode("latin-1")
    if "user-agent" not in names:
        block += _USER_AGENT
    if "accept-encoding" not in names:
        block += _ACCEPT_ENCODING
    return block


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request on it at a time."""

    def __init__(self, pool: Http1Pool, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.counted = True  # holds one of the pool's max_connections
        self.closed = False
        self.idle_since = 0.0
        # the request in flight
        self.waiter: asyncio.Future[Response] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.deadline = 0.0
        self.read_s = 0.0
        self.last_read = 0.0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.headers_done = False
        self.framed = False  # content-length or chunked: the body does not run to EOF
        self.complete = False
        self.reusable = False
        self.answered = False  # a byte of the response has come
        self.stale = False  # lost (closed, or a write refused) before a byte of an answer
        self.streaming = False  # the waiter gets the head; the body goes to `sink`
        self.sink: BodyStream | None = None

    # ---------------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.complete:
            self.abort()  # bytes nobody asked for: the connection's framing is lost
            return
        self.last_read = self.loop.time()
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProviderError(ErrorKind.malformed,
                                     "malformed response (a protocol upgrade)"))
        except httptools.HttpParserError as e:
            self._fail(ProviderError(ErrorKind.malformed,
                                     f"malformed response ({type(e).__name__})"))

    def eof_received(self) -> bool:
        return False  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._drop(self)
        if not self._reading():
            return
        if exc is None and self.headers_done and not self.framed \
                and self.status not in (204, 304):
            self._finish()  # a body delimited by the connection's end: it has ended
        elif not self.answered:
            self.stale = True
            self._fail(ProviderError(ErrorKind.malformed, "upstream closed the connection "
                                     "before answering"))
        else:  # closed early, or broken (a reset is not an end)
            self._fail(ProviderError(ErrorKind.malformed,
                                     "upstream closed the connection mid-response"))

    # ---------------------------------------------------------------- httptools

    def on_message_begin(self) -> None:
        if self.complete:  # a second response to one request: framing is lost
            self.reusable = False
            return
        self.headers = []
        self.body = []
        self.headers_done = False
        self.framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        low = name.lower()
        if low == b"content-length" or low == b"transfer-encoding":
            self.framed = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        if self.streaming and self.status >= 200:
            waiter = self.waiter
            try:
                self.sink = BodyStream(self, self.status, _headers(self.headers))
            except ProviderError as e:
                self._fail(e)
                return
            if waiter is not None and not waiter.done():
                waiter.set_result(self.sink)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink._push(body)
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.complete:
            self.reusable = False
            return
        if 100 <= self.status < 200:
            self.headers_done = False
            return  # an interim response (100 Continue, 103 Early Hints): the answer follows
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    # ---------------------------------------------------------------- the request

    def _reading(self) -> bool:
        """A request is in flight: its answer (or, streaming, its body) is still coming."""
        waiter = self.waiter
        if waiter is None:
            return False
        if not waiter.done():
            return True
        return self.sink is not None and not self.complete and not self.sink._closed

    def send(self, request: bytes, deadline: float, read_s: float, *,
             stream: bool = False) -> asyncio.Future[Any]:
        loop = self.loop
        now = loop.time()
        self.waiter = waiter = loop.create_future()
        self.streaming, self.sink = stream, None
        self.deadline, self.read_s, self.last_read = deadline, read_s, now
        self.status, self.complete, self.reusable, self.headers_done = 0, False, False, False
        self.answered = self.stale = False
        assert self.transport is not None
        try:
            self.transport.write(request)
        except (RuntimeError, OSError):  # closed under us between the pool and here
            self.stale = True
            self.abort()
            raise ProviderError(ErrorKind.connect, "could not send to upstream (its "
                                "connection closed)") from None
        self.timer = loop.call_at(min(deadline, now + read_s), self._on_timer)
        return waiter

    def _on_timer(self) -> None:
        if not self._reading():
            return
        now = self.loop.time()
        if now >= self.deadline:
            self._fail(TimeoutError())
        elif now - self.last_read >= self.read_s:
            self._fail(ProviderError(ErrorKind.timeout,
                                     f"upstream timed out (nothing read for {self.read_s:g}s)"))
        else:  # bytes came since: wait for the next gap
            self.timer = self.loop.call_at(min(self.deadline, self.last_read + self.read_s),
                                           self._on_timer)

    def _finish(self) -> None:
        self.complete = True
        if self.sink is not None:
            self.sink._end()
            return
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            response = Response(self.status, _headers(self.headers), _content(self))
        except ProviderError as e:
            self._fail(e)
            return
        waiter.set_result(response)

    def _fail(self, exc: BaseException) -> None:
        self.reusable = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        elif self.sink is not None:
            self.sink._fail(exc)
        self.abort()

    def done(self) -> None:
        """The caller has the response (or gave up): back to the pool, or closed."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.waiter = None
        self.sink = None
        self.streaming = False
        self.headers, self.body = [], []
        if self.complete and self.reusable and not self.closed:
            self.pool._release(self)
        else:
            self.abort()

    def abort(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        self.pool._drop(self)


def _headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    h = Headers()
    for name, value in raw:
        k = name.decode("latin-1").lower()
        v = value.decode("latin-1")
        h[k] = f"{h[k]}, {v}" if k in h else v
    return h


def _content(conn: _Connection) -> bytes:
    body = conn.body[0] if len(conn.body) == 1 else b"".join(conn.body)
    if not body:
        return body
    for name, value in conn.headers:
        if name.lower() == b"content-encoding":
            return _decode(value.strip().lower(), body)
    return body


def _decode(coding: bytes, body: bytes) -> bytes:
    try:
        if coding in (b"gzip", b"x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if coding == b"deflate":
            try:
                return zlib.decompress(body)  # zlib-wrapped, as the RFC says
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw, as some servers send
    except zlib.error:
        raise ProviderError(ErrorKind.malformed, "malformed response (a body that does not "
                            "decompress)") from None
    if coding in (b"identity", b""):
        return body
    raise ProviderError(ErrorKind.malformed,
                        f"malformed response (content-encoding {coding.decode('latin-1')!r})")


_STREAM_BUFFER = 1 << 20  # bytes a stream holds unread before it stops reading the socket


class BodyStream:
    """A response whose body is read as it comes (a stream of server-sent events): the
    status and headers at once, then `read()` chunk by chunk. The connection's one timer
    still bounds it (the read timeout between bytes, the deadline over all), so a read
    needs no timer of its own. `close()` hands the connection back (reused only after a
    complete keep-alive body) or closes it, so the upstream sees a caller who left."""

    __slots__ = ("status_code", "headers", "_conn", "_chunks", "_buffered", "_waiter",
                 "_ended", "_error", "_closed", "_paused", "_inflate")

    def __init__(self, conn: _Connection, status: int, headers: Headers) -> None:
        self.status_code = status
        self.headers = headers
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._closed = False
        self._paused = False
        self._inflate = _inflater(headers.get("content-encoding", ""))

    async def read(self) -> bytes:
        """The next piece of the body; b"" once it has ended."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._ended or self._closed:
                return b""
            self._waiter = self._conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._paused and self._buffered < _STREAM_BUFFER // 2:
            self._paused = False
            if self._conn.transport is not None and not self._conn.closed:
                self._conn.transport.resume_reading()
        return data

    async def read_all(self) -> bytes:
        parts = []
        while data := await self.read():
            parts.append(data)
        return b"".join(parts)

    @property
    def ended(self) -> bool:
        """The whole body has come (or the stream is closed)."""
        return self._conn.complete or self._closed or self._ended

    async def drain(self, within_s: float, most: int = 65536) -> None:
        """Read what is left of a body whose events the caller has all (`[DONE]` came
        before the chunked body's end): a body that ends within `within_s` leaves its
        connection fit for the next request; one that goes on is closed by `close()`."""
        if self._conn.complete or self._closed:
            return
        seen = 0
        try:
            async with asyncio.timeout(within_s):
                while seen <= most and (piece := await self.read()):
                    seen += len(piece)
        except (TimeoutError, ProviderError) as e:  # close() drops the connection then
            log.debug("stream body not drained (%s): its connection is closed", e)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.done()

    # fed by the connection
    def _push(self, data: bytes) -> None:
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                self._conn._fail(ProviderError(ErrorKind.malformed, "malformed response (a "
                                               "body that does not decompress)"))
                return
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _STREAM_BUFFER and not self._paused:
            self._paused = True
            if self._conn.transport is not None:
                self._conn.transport.pause_reading()
        self._wake()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)


def _inflater(coding: str) -> Any:
    """An incremental decoder for a streamed body's content-encoding (None: identity)."""
    coding = coding.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # a zlib header, as the RFC says
    raise ProviderError(ErrorKind.malformed, f"malformed response (content-encoding {coding!r})")


class Http1Pool:
    """Keep-alive connections per origin, and the POSTs that use them."""

    def __init__(self, max_connections: int = 512, keepalive_s: float = KEEPALIVE_S) -> None:
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._open = 0  # connections open or being opened
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._tls: ssl.SSLContext | None = None
        self.closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    @property
    def open_connections(self) -> int:
        return self._open

    def idle_connections(self) -> int:
        return sum(1 for q in self._idle.values() for c in q if not c.closed)

    async def post(
        self,
        ep: Endpoint,
        headers: bytes,
        body: bytes,
        *,
        deadline: float,
        connect_s: float,
        read_s: float,
    ) -> Response:
        """POST `body` (with the header lines `headers`, from `header_block`) to `ep`, by the
        loop-time `deadline`. A reused connection sends the request in this very step."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        if self.closed:
            raise ProviderError(ErrorKind.connect, "could not connect to upstream (the HTTP "
                                "client is closed)")
        head = b"%s%scontent-length: %d\r\n\r\n" % (ep.head, headers, len(body))
        conn = self._take_idle(ep.key, loop.time())
        if conn is not None:
            # A kept-alive connection the server closed just as we reused it (its close
            # still on the way) fails before any byte of an answer: once, on a fresh one.
            try:
                return await conn.send(head + body, deadline, read_s)
            except ProviderError:
                conn.reusable = False
                if not conn.stale:
                    raise
            except BaseException:
                conn.reusable = False
                raise
            finally:
                conn.done()
        conn = await self._connect(ep, deadline, connect_s)
        try:
            return await conn.send(head + body, deadline, read_s)
        except BaseException:
            conn.reusable = False
            raise
        finally:
            conn.done()

    async def stream(
        self,
        ep: Endpoint,
        headers: bytes,
        body: bytes,
        *,
        deadline: float,
        connect_s: float,
        read_s: float,
    ) -> BodyStream:
        """POST as `post` does, but return at the response's head: its body is read as it
        comes. The caller must `close()` the stream (a finally), even after an error."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        if self.closed:
            raise ProviderError(ErrorKind.connect, "could not connect to upstream (the HTTP "
                                "client is closed)")
        request = b"%s%scontent-length: %d\r\n\r\n%s" % (ep.head, headers, len(body), body)
        conn = self._take_idle(ep.key, loop.time())
        if conn is not None:
            try:
                return await conn.send(request, deadline, read_s, stream=True)
            except ProviderError:
                conn.reusable = False
                conn.done()
                if not conn.stale:
                    raise
            except BaseException:
                conn.reusable = False
                conn.done()
                raise
        conn = await self._connect(ep, deadline, connect_s)
        try:
            return await conn.send(request, deadline, read_s, stream=True)
        except BaseException:
            conn.reusable = False
            conn.done()
            raise

    async def aclose(self) -> None:
        self.closed = True
        for conn in list(self._all):
            conn.abort()
        self._idle.clear()
        for w in self._waiters:
            if not w.done():
                w.set_result(None)
        self._waiters.clear()

    # ---------------------------------------------------------------- pooling

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve this loop. Connections made on an earlier loop (a client used by one
        asyncio.run, then another) belong to it: they are forgotten, not reused."""
        self._loop = loop
        for conn in self._all:
            conn.counted = False
            conn.closed = True
        self._all.clear()
        self._idle.clear()
        self._waiters.clear()
        self._open = 0

    def _take_idle(self, key: tuple[str, str, int], now: float) -> _Connection | None:
        q = self._idle.get(key)
        while q:
            conn = q.pop()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                conn.abort()  # closing already: its connection_lost is on its way
                continue
            if now - conn.idle_since > self.keepalive_s:
                conn.abort()
                continue
            return conn
        return None

    def _release(self, conn: _Connection) -> None:
        conn.idle_since = self.loop.time()
        q = self._idle.get(conn.key)
        if q is None:
            q = self._idle[conn.key] = deque()
        q.append(conn)
        self._wake()

    def _drop(self, conn: _Connection) -> None:
        """A connection is gone: its slot is free (counted once however it went)."""
        if conn.counted:
            conn.counted = False
            self._open -= 1
            self._all.discard(conn)
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def _evict_idle(self) -> bool:
        """Close the longest-idle connection of any origin to make room; False if none."""
        oldest: _Connection | None = None
        for q in self._idle.values():
            while q and q[0].closed:
                q.popleft()
            if q and (oldest is None or q[0].idle_since < oldest.idle_since):
                oldest = q[0]
        if oldest is None:
            return False
        self._idle[oldest.key].popleft()
        oldest.abort()
        return True

    async def _connect(self, ep: Endpoint, deadline: float, connect_s: float) -> _Connection:
        loop = self.loop
        at = min(deadline, loop.time() + connect_s)
        try:
            async with asyncio.timeout_at(at):
                while self._open >= self.max_connections:
                    if self._evict_idle():
                        continue
                    conn = self._take_idle(ep.key, loop.time())
                    if conn is not None:
                        return conn
                    w = loop.create_future()
                    self._waiters.append(w)
                    try:
                        await w
                    except BaseException:
                        if w.done() and not w.cancelled():
                            self._wake()  # woken, then cancelled before it ran: pass it on
                        else:
                            w.cancel()
                        raise
                    if self.closed:
                        raise ProviderError(ErrorKind.connect, "could not connect to upstream "
                                            "(the HTTP client is closed)")
                    conn = self._take_idle(ep.key, loop.time())
                    if conn is not None:
                        return conn
                self._open += 1
                conn = _Connection(self, ep.key)
                self._all.add(conn)
                try:
                    await loop.create_connection(
                        lambda: conn, ep.host, ep.port,
                        ssl=self._tls_context() if ep.tls else None,
                        server_hostname=ep.host if ep.tls else None,
                    )
                except BaseException:
                    conn.closed = True
                    self._drop(conn)
                    raise
                if self.closed:
                    conn.abort()
                    raise ProviderError(ErrorKind.connect, "could not connect to upstream "
                                        "(the HTTP client is closed)")
                return conn
        except TimeoutError:
            if at >= deadline:
                raise
            raise ProviderError(ErrorKind.timeout,
                                f"upstream timed out (no connection within {connect_s:g}s)"
                                ) from None
        except OSError as e:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise ProviderError(ErrorKind.connect, "could not connect to upstream") from e

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import httpx

            self._tls = httpx.create_ssl_context()  # what the httpx client would verify with
        return self._tls
