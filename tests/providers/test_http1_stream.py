"""Streams over the HTTP/1.1 pool (`Http1Pool.stream`, `BodyStream`) and the server-sent
events decoder the adapters read them with, against the raw loopback server of
test_openai_http1: a body read as it comes, its end, reuse, early close, encodings,
timeouts, and events split anywhere."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from axtui.providers.errors import ProviderError
from axtui.providers.http1 import Http1Pool, endpoint
from axtui.providers.sse import SseDecoder
from axtui.records import ErrorKind
from tests.providers.test_openai_http1 import HEADERS, RawServer


def sse_head(extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{extra}"
            "transfer-encoding: chunked\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


END = b"0\r\n\r\n"


async def open_stream(pool: Http1Pool, srv: RawServer, *, read_s: float = 5.0,
                      total_s: float = 10.0):
    ep = endpoint(srv.url)
    assert ep is not None
    at = asyncio.get_running_loop().time() + total_s
    return await pool.stream(ep, HEADERS, b"{}", deadline=at, connect_s=5.0, read_s=read_s)


class Scripted(RawServer):
    """Answers with `parts`, waiting for `go` before each part after the first."""

    def __init__(self, parts: list[bytes], then: str = "") -> None:
        super().__init__()
        self.parts = parts
        self.then = then
        self.go = asyncio.Queue[None]()

    async def handle(self, reader, writer) -> None:  # type: ignore[override]
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_client += 1
                    return
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                for i, part in enumerate(self.parts):
                    if i:
                        await self.go.get()
                    writer.write(part)
                    await writer.drain()
                if self.then == "close":
                    return
                if self.then == "wait":
                    if not await reader.read():
                        self.closed_by_client += 1
                    return
        finally:
            writer.close()


@pytest.fixture
async def pool():
    p = Http1Pool(max_connections=8)
    yield p
    await p.aclose()


@pytest.fixture
async def scripted():
    servers = []

    async def make(parts: list[bytes], then: str = "") -> Scripted:
        srv = Scripted(parts, then)
        srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        srv.port = srv.server.sockets[0].getsockname()[1]
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.server.close()


async def test_the_head_returns_before_the_body_and_pieces_arrive_as_sent(scripted, pool):
    srv = await scripted([sse_head() + chunk(b"data: one\n\n"), chunk(b"data: two\n\n") + END])
    body = await open_stream(pool, srv)
    try:
        assert body.status_code == 200
        assert body.headers.get("Content-Type") == "text/event-stream"
        assert await body.read() == b"data: one\n\n"  # the second piece is not sent yet
        srv.go.put_nowait(None)
        assert await body.read() == b"data: two\n\n"
        assert await body.read() == b""
    finally:
        body.close()


async def test_a_finished_stream_gives_its_connection_back(scripted, pool):
    srv = await scripted([sse_head() + chunk(b"data: x\n\n") + END])
    for _ in range(3):
        body = await open_stream(pool, srv)
        assert await body.read_all() == b"data: x\n\n"
        body.close()
    assert srv.connections == 1


async def test_closing_a_stream_early_closes_its_connection(scripted, pool):
    srv = await scripted([sse_head() + chunk(b"data: one\n\n"), chunk(b"never sent")],
                         then="wait")
    body = await open_stream(pool, srv)
    assert await body.read() == b"data: one\n\n"
    body.close()
    assert pool.open_connections == 0
    srv.go.put_nowait(None)  # the server writes once more, then sees the caller gone
    while not srv.closed_by_client:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("coding, encode", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
])
async def test_a_compressed_stream_is_decoded_as_it_comes(scripted, pool, coding, encode):
    data = b"".join(b"data: event %d\n\n" % i for i in range(200))
    packed = encode(data)
    half = len(packed) // 2
    srv = await scripted([sse_head(f"content-encoding: {coding}\r\n") + chunk(packed[:half]),
                          chunk(packed[half:]) + END])
    body = await open_stream(pool, srv)
    got = await body.read()
    srv.go.put_nowait(None)
    got += await body.read_all()
    body.close()
    assert got == data


async def test_a_stream_cut_mid_body_is_malformed(scripted, pool):
    srv = await scripted([sse_head() + chunk(b"data: one\n\n") + b"40\r\nshort"], then="close")
    body = await open_stream(pool, srv)
    with pytest.raises(ProviderError) as info:
        await body.read_all()
    body.close()
    assert info.value.kind is ErrorKind.malformed


async def test_a_stream_delimited_by_the_connection_end_ends_there(scripted, pool):
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
    srv = await scripted([head + b"data: a\n\n", b"data: b\n\n"], then="close")
    body = await open_stream(pool, srv)
    assert await body.read() == b"data: a\n\n"
    srv.go.put_nowait(None)
    assert await body.read_all() == b"data: b\n\n"
    body.close()


async def test_a_silent_stream_times_out_between_pieces(scripted, pool):
    srv = await scripted([sse_head() + chunk(b"data: one\n\n"), END], then="wait")
    body = await open_stream(pool, srv, read_s=0.2)
    assert await body.read() == b"data: one\n\n"
    with pytest.raises(ProviderError) as info:
        await body.read()
    body.close()
    assert info.value.kind is ErrorKind.timeout


async def test_a_trickling_stream_is_stopped_at_the_deadline(scripted, pool):
    parts = [sse_head()] + [chunk(b"data: x\n\n")] * 100
    srv = await scripted(parts, then="wait")
    body = await open_stream(pool, srv, total_s=0.3)

    async def trickle() -> None:
        for _ in range(99):
            await asyncio.sleep(0.02)
            srv.go.put_nowait(None)

    feeder = asyncio.ensure_future(trickle())
    with pytest.raises(TimeoutError):
        while await body.read():
            pass
    body.close()
    feeder.cancel()


async def test_a_large_body_read_slowly_arrives_whole(scripted, pool):
    data = bytes(range(256)) * (16 * 1024)  # 4 MiB: the stream stops reading past 1 MiB
    srv = await scripted([b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(data) + data])
    body = await open_stream(pool, srv)
    got = bytearray()
    while piece := await body.read():
        got += piece
        await asyncio.sleep(0)
    body.close()
    assert bytes(got) == data


# ------------------------------------------------------------------- the SSE decoder


def reference(text: str) -> list[tuple[str, str, str, int | None]]:
    """What httpx-sse decodes from the whole text at once."""
    lines, dec, out = SSELineDecoder(), SSEDecoder(), []
    for line in lines.decode(text) + lines.flush():
        ev = dec.decode(line)
        if ev is not None:
            out.append((ev.event, ev.data, ev.id, ev.retry))
    return out


field_value = st.text(st.characters(blacklist_characters="\r\n\0",
                                    blacklist_categories=("Cs",)), max_size=12)
line_end = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def sse_text(draw) -> str:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        for _ in range(draw(st.integers(0, 4))):
            name = draw(st.sampled_from(["data", "event", "id", "retry", ":comment", "x"]))
            sep = draw(st.sampled_from([": ", ":", ""]))
            value = draw(field_value) if name != "retry" else draw(
                st.sampled_from(["100", "x", "7"]))
            out.append(f"{name}{sep}{value}{draw(line_end)}")
        out.append(draw(line_end))
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(text=sse_text(), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_events_decode_the_same_however_the_body_is_split(text, cuts):
    raw = text.encode()
    points = sorted({c for c in cuts if c <= len(raw)})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    dec, got = SseDecoder(), []
    for piece in pieces:
        got += [(e.event, e.data, e.id, e.retry) for e in dec.feed(piece)]
    dec.close()
    assert got == reference(text)


def test_a_character_split_across_pieces_is_kept():
    raw = "data: héllo ✓\n\n".encode()
    dec = SseDecoder()
    events = [e for i in range(len(raw)) for e in dec.feed(raw[i:i + 1])]
    assert [e.data for e in events] == ["héllo ✓"]


async def test_a_body_ending_just_after_the_last_event_keeps_its_connection(scripted, pool):
    """`[DONE]` came in one write and the chunked body's end in the next: draining what
    is left lets the next stream reuse the connection."""
    srv = await scripted([sse_head() + chunk(b"data: [DONE]\n\n"), END])
    for _ in range(2):
        body = await open_stream(pool, srv)
        assert await body.read() == b"data: [DONE]\n\n"
        srv.go.put_nowait(None)  # the end follows
        await body.drain(1.0)
        body.close()
    assert srv.connections == 1


async def test_a_body_that_goes_on_after_the_last_event_is_closed_not_reused(scripted, pool):
    srv = await scripted([sse_head() + chunk(b"data: [DONE]\n\n"), END], then="wait")
    body = await open_stream(pool, srv)
    assert await body.read() == b"data: [DONE]\n\n"
    await body.drain(0.05)  # nothing more comes: the wait runs out
    body.close()
    assert pool.open_connections == 0
