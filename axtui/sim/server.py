"""Serving the sim on uvicorn (httptools): in the foreground for `axtui sim serve`, or in a
background thread (`SimServer`) for tests and drills.

The protocol puts each request's transport in its ASGI scope, so the app can reset or close
the connection (outages, cut streams) rather than answer.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from axtui.clock import Clock
from axtui.heap import tune_gc
from axtui.listening import CleanExitServer, bind
from axtui.sim.app import TRANSPORT_KEY, SimApp
from axtui.sim.scenario import Scenario
from axtui.sim.state import SimState


class _Protocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # head and body go in two writes: no Nagle wait between them
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_headers_complete(self) -> None:
        self.scope[TRANSPORT_KEY] = self.transport  # type: ignore[literal-required]
        super().on_headers_complete()


class _Server(CleanExitServer):
    """Sets `ready` once listening; exits 0 on SIGTERM (uvicorn would re-raise it)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None = None
                 ) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            self.on_ready()
        self.ready.set()


def make_server(app: SimApp, *, loop: str = "auto",
                on_ready: Callable[[], None] | None = None) -> _Server:
    config = uvicorn.Config(
        app, loop=loop, http=_Protocol, lifespan="on", access_log=False,
        log_level="warning", server_header=False, proxy_headers=False, backlog=2048,
        timeout_graceful_shutdown=1,  # hanging outages would hold a shutdown
    )
    return _Server(config, on_ready)


def urls(app: SimApp, root: str) -> dict[str, str]:
    """Each upstream's base URL, as a client or a gateway deployment is configured with."""
    return {name: root + path for name, path in app.base_paths.items()}


def serve(scenario: Scenario, host: str, port: int, *, seed: int | None = None,
          on_bound: Callable[[str, dict[str, str]], None] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; `on_bound(root, urls)` once listening. 0 after a clean
    shutdown, 1 if startup failed."""
    sock = bind(host, port)
    app = SimApp(SimState(scenario, seed=seed))
    shown = f"[{host}]" if ":" in host else host
    root = f"http://{shown}:{sock.getsockname()[1]}"

    def ready() -> None:  # listening now: a client told the URL can connect at once
        tune_gc()  # an upstream's latency must not carry full collections of its imports
        if on_bound is not None:
            on_bound(root, urls(app, root))

    server = make_server(app, on_ready=ready)
    server.run(sockets=[sock])
    return 0 if server.started else 1


class SimServer:
    """The sim in a background thread on 127.0.0.1 (an ephemeral port unless given).

        with SimServer(scenario, seed=1) as sim:
            OpenAI(base_url=sim.base_url("alpha"), api_key="x")
            httpx.post(sim.url + "/_sim/faults", json={...})
    """

    def __init__(self, scenario: Scenario, *, seed: int | None = None, port: int = 0,
                 clock: Clock | None = None) -> None:
        self.state = SimState(scenario, seed=seed, clock=clock)
        self.app = SimApp(self.state)
        self._sock = bind("127.0.0.1", port)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server(self.app, loop="asyncio")
        self._thread = threading.Thread(target=self._run, name="axtui-sim", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> SimServer:
        self._thread.start()
        if not self._server.ready.wait(10):
            raise RuntimeError("the sim did not start within 10 s")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self._sock.close()

    def base_url(self, upstream: str) -> str:
        return self.url + self.app.base_paths[upstream]

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
