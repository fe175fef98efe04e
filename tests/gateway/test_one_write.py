"""A response leaves in one write: the head uvicorn writes first waits for the body."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import uvicorn
from uvicorn.server import ServerState

from axtui.gateway.serve import _HeadHeld, _Protocol, make_server


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def test_head_and_body_leave_together():
    t = _Transport()
    held = _HeadHeld(t, asyncio.get_running_loop())  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert t.writes == []
    held.write(b"hi")
    assert t.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"]
    held.write(b"more")  # later writes go straight through
    assert t.writes[-1] == b"more"
    await asyncio.sleep(0)  # the safety flush has nothing left to send
    assert len(t.writes) == 2
    assert held.get_write_buffer_size() == 0  # the rest is the transport's


async def test_a_head_alone_goes_out_at_the_end_of_the_step():
    t = _Transport()
    held = _HeadHeld(t, asyncio.get_running_loop())  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    await asyncio.sleep(0)
    assert t.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]


async def test_close_sends_a_held_head_first_and_a_gone_client_gets_nothing():
    t = _Transport()
    held = _HeadHeld(t, asyncio.get_running_loop())  # type: ignore[arg-type]
    held.write(b"HEAD")
    held.close()
    assert t.writes == [b"HEAD"] and t.closed
    t2 = _Transport()
    held2 = _HeadHeld(t2, asyncio.get_running_loop())  # type: ignore[arg-type]
    held2.write(b"HEAD")
    t2.closed = True  # the client left before the step ended
    await asyncio.sleep(0)
    assert t2.writes == []


async def test_uvicorns_protocol_writes_a_response_once():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"hi"})

    config = uvicorn.Config(app, http=_Protocol, lifespan="off", log_level="warning")
    config.load()
    protocol = _Protocol(config=config, server_state=ServerState(), app_state={})
    t = _Transport()
    protocol.connection_made(t)  # type: ignore[arg-type]
    protocol.data_received(b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\nok")
    for _ in range(5):
        await asyncio.sleep(0)
    [whole] = t.writes
    assert whole.startswith(b"HTTP/1.1 200 OK\r\n") and whole.endswith(b"\r\n\r\nhi")
    gw = SimpleNamespace(config=SimpleNamespace(gateway=SimpleNamespace(shutdown_grace_s=1.0,
                                                                        header_timeout_s=2.0)))
    served = make_server(gw, "127.0.0.1", 0).config.http  # what serve runs
    assert issubclass(served, _Protocol) and served.header_timeout_s == 2.0
