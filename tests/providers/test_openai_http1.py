"""The small HTTP/1.1 client post_json takes (axtui.providers.http1), against a raw loopback
server that answers exactly the bytes each test scripts: framing (content-length, chunked,
to the connection's end), interim responses, encodings, keep-alive reuse and its limits,
timeouts, cancellation, and broken answers."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from axtui.clock import RealClock
from axtui.providers.base import ChatRequest, Timeouts
from axtui.providers.errors import ProviderError
from axtui.providers.http1 import Headers, Http1Pool, endpoint, header_block
from axtui.providers.openai import OpenAIProvider
from axtui.providers.transport import make_http_client, post_json
from axtui.records import ErrorKind

OK_BODY = b'{"ok": true}'


def reply(body: bytes = OK_BODY, status: str = "200 OK", headers: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


@dataclass
class Received:
    head: bytes
    body: bytes


@dataclass
class RawServer:
    """Reads one request at a time per connection and answers with what `script` returns
    for it: bytes to write, or None to close the connection without a word."""

    script: Callable[[Received], bytes | None | tuple[bytes, str]] = lambda r: reply()
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0
    delay_s: float = 0.0  # before each answer
    in_flight: int = 0
    most_in_flight: int = 0
    server: asyncio.Server | None = None
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_client += 1
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                rec = Received(head, body)
                self.received.append(rec)
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                self.in_flight -= 1
                out = self.script(rec)
                if isinstance(out, tuple):  # (bytes, "then close" | "then wait")
                    data, then = out
                    writer.write(data)
                    await writer.drain()
                    if then == "close":
                        writer.close()
                        return
                    # "wait": say nothing more; count it when the client leaves
                    with contextlib.suppress(ConnectionError):
                        await reader.read()
                    self.closed_by_client += 1
                    return
                if out is None:
                    writer.close()
                    return
                writer.write(out)
                await writer.drain()
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    srv = RawServer()
    srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = srv.server.sockets[0].getsockname()[1]
    yield srv
    srv.server.close()


@pytest.fixture
async def pool() -> AsyncIterator[Http1Pool]:
    p = Http1Pool(max_connections=8)
    yield p
    await p.aclose()


HEADERS = header_block((("content-type", "application/json"), ("authorization", "Bearer k")))


async def post(pool: Http1Pool, srv: RawServer, body: bytes = b"{}", *, read_s: float = 5.0,
               total_s: float = 10.0, connect_s: float = 5.0):
    ep = endpoint(srv.url)
    assert ep is not None
    at = asyncio.get_running_loop().time() + total_s
    return await pool.post(ep, HEADERS, body, deadline=at, connect_s=connect_s, read_s=read_s)


# ------------------------------------------------------------------- requests and framing


async def test_request_on_the_wire_and_a_plain_response(server, pool):
    server.script = lambda r: reply(headers="X-RateLimit-Remaining-Requests: 7\r\n")
    resp = await post(pool, server, b'{"a": 1}')
    assert (resp.status_code, resp.content) == (200, OK_BODY)
    assert resp.headers.get("x-ratelimit-remaining-requests") == "7"
    assert resp.headers.get("X-RateLimit-Remaining-Requests") == "7"
    [rec] = server.received
    lines = rec.head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
    assert f"host: 127.0.0.1:{server.port}" in lines
    assert "authorization: Bearer k" in lines and "content-length: 8" in lines
    assert rec.body == b'{"a": 1}'


async def test_chunked_body_is_joined(server, pool):
    server.script = lambda r: (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                               b"5\r\n{\"ok\"\r\n7\r\n: true}\r\n0\r\n\r\n")
    assert (await post(pool, server)).content == OK_BODY
    assert (await post(pool, server)).content == OK_BODY
    assert server.connections == 1  # the connection was reused after a chunked answer


async def test_body_delimited_by_the_connection_end(server, pool):
    server.script = lambda r: (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n"
                               + OK_BODY, "close")
    assert (await post(pool, server)).content == OK_BODY
    assert pool.open_connections == 0


async def test_interim_responses_are_skipped(server, pool):
    server.script = lambda r: (b"HTTP/1.1 100 Continue\r\n\r\n"
                               b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + reply())
    resp = await post(pool, server)
    assert (resp.status_code, resp.content) == (200, OK_BODY)
    assert resp.headers.get("link") is None


@pytest.mark.parametrize("coding,encode", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
])
async def test_compressed_bodies_are_decoded(server, pool, coding, encode):
    server.script = lambda r: reply(encode(OK_BODY), headers=f"content-encoding: {coding}\r\n")
    assert (await post(pool, server)).content == OK_BODY
    assert b"accept-encoding: gzip, deflate" in server.received[0].head


async def test_an_unknown_or_broken_encoding_is_malformed(server, pool):
    server.script = lambda r: reply(b"zzz", headers="content-encoding: br\r\n")
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    assert info.value.kind is ErrorKind.malformed
    server.script = lambda r: reply(b"not gzip", headers="content-encoding: gzip\r\n")
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    assert info.value.kind is ErrorKind.malformed


async def test_repeated_headers_are_joined(server, pool):
    server.script = lambda r: reply(headers="x-a: 1\r\nX-A: 2\r\n")
    resp = await post(pool, server)
    assert isinstance(resp.headers, Headers)
    assert resp.headers.get("x-a") == "1, 2" and resp.headers.get("x-b", "none") == "none"


# ------------------------------------------------------------------- keep-alive


async def test_connection_is_reused_and_request_sent_in_the_callers_step(server, pool):
    await post(pool, server)
    [conn] = [c for q in pool._idle.values() for c in q]
    writes: list[bytes] = []
    real_write = conn.transport.write
    conn.transport.write = lambda data: (writes.append(data), real_write(data))[1]
    task = asyncio.ensure_future(post(pool, server))
    await asyncio.sleep(0)  # one step of the task: the request must be on the wire already
    assert len(writes) == 1 and writes[0].startswith(b"POST /v1/chat/completions")
    await task
    assert server.connections == 1 and len(server.received) == 2


async def test_connection_close_is_not_reused(server, pool):
    server.script = lambda r: reply(headers="connection: close\r\n")
    await post(pool, server)
    await post(pool, server)
    assert server.connections == 2


async def test_idle_connection_expires(server):
    pool = Http1Pool(keepalive_s=0.05)
    try:
        await post(pool, server)
        await asyncio.sleep(0.1)
        await post(pool, server)
        assert server.connections == 2
        assert pool.open_connections == 1
    finally:
        await pool.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_used(server, pool):
    server.script = lambda r: (reply(), "close")  # answers, then closes the kept-alive socket
    await post(pool, server)
    await asyncio.sleep(0.05)  # the close reaches the client
    assert pool.idle_connections() == 0
    server.script = lambda r: reply()
    assert (await post(pool, server)).content == OK_BODY
    assert server.connections == 2


async def test_at_most_max_connections_callers_wait(server):
    pool = Http1Pool(max_connections=2)
    server.delay_s = 0.02
    try:
        results = await asyncio.gather(*(post(pool, server) for _ in range(6)))
        assert all(r.content == OK_BODY for r in results)
        assert server.most_in_flight == 2 and server.connections == 2
        assert pool.open_connections == 2 and pool.idle_connections() == 2
    finally:
        await pool.aclose()


async def test_a_full_pool_times_out_waiting_for_a_connection(server):
    pool = Http1Pool(max_connections=1)
    server.script = lambda r: (reply()[:10], "wait")  # never finishes: holds the only slot
    try:
        first = asyncio.ensure_future(post(pool, server))
        await asyncio.sleep(0.05)
        with pytest.raises(ProviderError) as info:
            await post(pool, server, connect_s=0.1)
        assert info.value.kind is ErrorKind.timeout
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert pool.open_connections == 0
    finally:
        await pool.aclose()


async def test_idle_connection_of_another_origin_is_closed_to_make_room(server):
    other = RawServer()
    other.server = await asyncio.start_server(other.handle, "127.0.0.1", 0)
    other.port = other.server.sockets[0].getsockname()[1]
    pool = Http1Pool(max_connections=1)
    try:
        await post(pool, other)
        assert (await post(pool, server)).content == OK_BODY
        assert pool.open_connections == 1
    finally:
        await pool.aclose()
        other.server.close()


# ------------------------------------------------------------------- failures


async def test_truncated_body_is_malformed_and_the_connection_dropped(server, pool):
    server.script = lambda r: (reply()[:-4], "close")
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    assert info.value.kind is ErrorKind.malformed
    assert pool.open_connections == 0


async def test_no_answer_at_all_is_malformed(server, pool):
    server.script = lambda r: None
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    assert info.value.kind is ErrorKind.malformed


async def test_garbage_is_malformed(server, pool):
    server.script = lambda r: b"SPDY/9 what\r\n\r\n"
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    assert info.value.kind is ErrorKind.malformed
    assert pool.open_connections == 0


async def test_bytes_after_the_response_drop_the_connection(server, pool):
    server.script = lambda r: reply() + reply()
    assert (await post(pool, server)).content == OK_BODY
    await post(pool, server)
    assert server.connections == 2  # the first connection's framing was lost: not reused


async def test_read_timeout_between_bytes(server, pool):
    server.script = lambda r: (reply()[:20], "wait")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(ProviderError) as info:
        await post(pool, server, read_s=0.1)
    assert info.value.kind is ErrorKind.timeout
    assert loop.time() - t0 < 1.0
    assert pool.open_connections == 0
    await asyncio.sleep(0.05)
    assert server.closed_by_client == 1  # the server saw the connection go


async def test_the_deadline_raises_timeout_error(server, pool):
    server.script = lambda r: (reply()[:20], "wait")
    with pytest.raises(TimeoutError):
        await post(pool, server, read_s=5.0, total_s=0.1)


async def test_refused_connection_is_a_connect_error(pool):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = endpoint(f"http://127.0.0.1:{port}/v1/x")
    at = asyncio.get_running_loop().time() + 5
    with pytest.raises(ProviderError) as info:
        await pool.post(ep, HEADERS, b"{}", deadline=at, connect_s=1, read_s=1)
    assert info.value.kind is ErrorKind.connect
    assert pool.open_connections == 0


async def test_cancelling_the_caller_closes_the_connection(server, pool):
    server.script = lambda r: (b"", "wait")  # never answers
    task = asyncio.ensure_future(post(pool, server))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.open_connections == 0
    await asyncio.sleep(0.05)
    assert server.closed_by_client == 1  # the upstream sees the caller go


async def test_a_closed_pool_refuses(server, pool):
    await pool.aclose()
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    assert info.value.kind is ErrorKind.connect


# ------------------------------------------------------------------- URLs and headers


def test_endpoints():
    ep = endpoint("https://api.openai.com/v1/chat/completions")
    assert ep is not None and ep.tls and ep.port == 443
    assert ep.head == b"POST /v1/chat/completions HTTP/1.1\r\nhost: api.openai.com\r\n"
    ep6 = endpoint("http://[::1]:8080/v1beta/models/m:generateContent?alt=json")
    assert ep6 is not None and not ep6.tls and ep6.host == "::1"
    assert ep6.head == (b"POST /v1beta/models/m:generateContent?alt=json HTTP/1.1\r\n"
                        b"host: [::1]:8080\r\n")
    assert endpoint("ftp://example.com/x") is None
    assert endpoint("http://user:pw@example.com/x") is None


def test_header_block_refuses_injection_and_keeps_framing_ours():
    block = header_block((("Content-Length", "5"), ("x-a", "1"), ("user-agent", "me")))
    assert block == b"x-a: 1\r\nuser-agent: me\r\naccept-encoding: gzip, deflate\r\n"
    with pytest.raises(ValueError):
        header_block((("authorization", "Bearer k\r\nx-evil: 1"),))


async def test_post_json_refuses_a_header_with_a_newline(server):
    client = make_http_client()
    provider = OpenAIProvider("o", base_url=server.url.rsplit("/chat", 1)[0],
                              api_key="sk-a\nb", client=client, clock=RealClock())
    try:
        with pytest.raises(ProviderError) as info:
            await provider.complete(ChatRequest([{"role": "user", "content": "hi"}]), "m")
        assert info.value.kind is ErrorKind.connect
        assert "sk-a" not in info.value.message
        assert server.received == []
    finally:
        await client.aclose()


async def test_post_json_over_a_client_without_the_pool(server):
    client = httpx.AsyncClient()  # any httpx client still works, through httpx
    provider = OpenAIProvider("o", base_url=server.url.rsplit("/chat", 1)[0], api_key="k",
                              client=client, clock=RealClock(), timeouts=Timeouts())
    try:
        resp = await post_json(provider, server.url, {"content-type": "application/json"},
                               {"a": 1})
        assert (resp.status_code, resp.content) == (200, OK_BODY)
    finally:
        await client.aclose()


async def test_shared_client_closes_its_pool(server):
    client = make_http_client()
    provider = OpenAIProvider("o", base_url=server.url.rsplit("/chat", 1)[0], api_key="k",
                              client=client, clock=RealClock())
    await post_json(provider, server.url, {}, {"a": 1})
    pool = client.http1  # type: ignore[attr-defined]
    assert pool.open_connections == 1
    await client.aclose()
    assert pool.closed and pool.open_connections == 0


def test_a_pool_used_by_one_event_loop_then_another():
    pool = Http1Pool()

    async def once() -> bytes:
        srv = RawServer()
        srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        srv.port = srv.server.sockets[0].getsockname()[1]
        try:
            return (await post(pool, srv)).content
        finally:
            srv.server.close()

    assert asyncio.run(once()) == OK_BODY
    assert asyncio.run(once()) == OK_BODY  # the first loop's connection is not reused


async def test_a_connection_closing_under_the_pool_is_not_taken(server, pool):
    await post(pool, server)
    [conn] = [c for q in pool._idle.values() for c in q]
    conn.transport.close()  # closing: its connection_lost has not run yet
    assert (await post(pool, server)).content == OK_BODY
    assert server.connections == 2


# ------------------------------------------------------------------- review: races and edges


async def test_a_reused_connection_closed_before_any_answer_is_retried_once_fresh(server, pool):
    answered = []

    def script(r: Received) -> bytes | None:
        answered.append(r)
        # the kept-alive connection's second request meets a server that has just closed it
        return None if len(answered) == 2 else reply()

    server.script = script
    assert (await post(pool, server)).content == OK_BODY
    resp = await post(pool, server)
    assert (resp.status_code, resp.content) == (200, OK_BODY)
    assert server.connections == 2 and len(server.received) == 3


async def test_a_fresh_connection_failing_twice_is_not_retried_forever(server, pool):
    count = []
    server.script = lambda r: (count.append(r), reply() if len(count) == 1 else None)[1]
    await post(pool, server)
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    # reused (closed) -> fresh (closed): one retry only, then the error
    assert len(server.received) == 3 and server.connections == 2
    assert info.value.kind is ErrorKind.malformed
    assert "before answering" in info.value.message


async def test_a_reset_mid_body_delimited_by_close_is_not_a_complete_response(server, pool):
    import struct

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"ok\": t")
        await writer.drain()
        await asyncio.sleep(0.05)  # the client has read it
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST: the connection broke, it did not end

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    ep = endpoint(f"http://127.0.0.1:{port}/v1/x")
    at = asyncio.get_running_loop().time() + 5
    try:
        with pytest.raises(ProviderError) as info:
            await pool.post(ep, HEADERS, b"{}", deadline=at, connect_s=1, read_s=1)
        assert info.value.kind is ErrorKind.malformed
    finally:
        srv.close()


async def test_an_interim_response_then_close_is_not_an_answer(server, pool):
    server.script = lambda r: (b"HTTP/1.1 100 Continue\r\n\r\n", "close")
    with pytest.raises(ProviderError) as info:
        await post(pool, server)
    assert info.value.kind is ErrorKind.malformed


async def test_a_woken_waiter_cancelled_passes_the_slot_on(server):
    pool = Http1Pool(max_connections=1)
    server.delay_s = 0.05
    try:
        holder = asyncio.ensure_future(post(pool, server))
        await asyncio.sleep(0.01)
        a = asyncio.ensure_future(post(pool, server, connect_s=2.0))
        b = asyncio.ensure_future(post(pool, server, connect_s=2.0))
        await asyncio.sleep(0.01)
        assert len(pool._waiters) == 2
        real_release = pool._release

        def release_then_cancel_a(conn):
            real_release(conn)  # wakes a...
            a.cancel()  # ...which is cancelled in the same step, before it runs

        pool._release = release_then_cancel_a
        await holder
        pool._release = real_release
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert (await b).content == OK_BODY
        assert loop.time() - t0 < 1.0  # b took the free connection, not its connect timeout
        with pytest.raises(asyncio.CancelledError):
            await a
    finally:
        await pool.aclose()
