"""kill -9 of a real `axtui serve` under load: every request a client saw answered (a 2xx
body read whole, a stream read to `[DONE]`) has its row in the store once the recorder child
has drained the handoff ring, or the next start has replayed it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from axtui.config import load_config
from axtui.gateway.app import Gateway as GatewayApp
from axtui.store import open_store
from axtui.store.handoff import handoff_dir
from axtui.store.tables import RequestRow

from .harness import LoopThread, Served, stop_gateway

CLIENTS = 8
ANSWERED_BEFORE_KILL = 400

CONFIG = """
[store]
url = "{url}"
[providers.sim]
protocol = "sim"
[providers.sim.sim]
latency_p50_ms = 2
latency_p95_ms = 6
ttft_ms = 1
tokens_per_s = 20000
output_tokens_mean = 8
[[deployments]]
provider = "sim"
model = "fast"
[routes.chat]
candidates = ["sim/fast"]
"""


class Gateway:
    """`axtui serve` in its own process group (the recorder child and forkserver in it)."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axtui.cli.main", "serve", "--config", str(config),
             "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
        self.lines: list[str] = []
        self.url = ""
        ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(ready,), daemon=True)
        self._reader.start()
        assert ready.wait(60), "".join(self.lines)
        assert self.url, "".join(self.lines)

    def _read(self, ready: threading.Event) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # drained to the end: a full pipe would block it
            self.lines.append(line)
            if line.startswith("axtui serve: "):
                self.url = line.split()[2].removesuffix("/v1")
            if "admin API" in line:
                ready.set()
        ready.set()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, "".join(self.lines)
        self._reader.join(10)  # every line it wrote, up to its stderr's end

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Load:
    """Clients sending plain and streaming requests until the gateway goes away, keeping
    the `x-request-id` of every request they saw answered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered: list[str] = []
        self.enough = threading.Event()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i % 2 == 1,), daemon=True)
                        for i in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def _client(self, stream: bool) -> None:
        body = {"model": "chat", "messages": [{"role": "user", "content": "hello"}],
                "stream": stream}
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    rid = self._stream(client, body) if stream else self._plain(client, body)
                except httpx.HTTPError:  # the gateway died under this request: not answered
                    return
                if rid is not None:
                    self.answered.append(rid)
                    if len(self.answered) >= ANSWERED_BEFORE_KILL:
                        self.enough.set()

    @staticmethod
    def _plain(client: httpx.Client, body: dict) -> str | None:
        r = client.post("/v1/chat/completions", json=body)
        return r.headers["x-request-id"] if r.is_success else None

    @staticmethod
    def _stream(client: httpx.Client, body: dict) -> str | None:
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            lines = list(r.iter_lines())
            done = "data: [DONE]" in lines
            return r.headers["x-request-id"] if r.is_success and done else None

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def stored_ids(url: str) -> set[str]:
    store = open_store(url)
    try:
        with store.connect() as conn:
            return set(conn.execute(select(RequestRow.id)).scalars())
    finally:
        store.close()


@pytest.mark.parametrize("whole_group", [False, True], ids=["gateway", "gateway-and-recorder"])
def test_every_answered_request_has_a_record_after_kill_9(tmp_path: Path, whole_group: bool):
    url = f"sqlite:///{tmp_path}/gw.db"
    config = tmp_path / "axtui.toml"
    config.write_text(CONFIG.format(url=url))
    gateway = Gateway(config)
    try:
        load = Load(gateway.url)
        assert load.enough.wait(120), "the load never got going"
        if whole_group:  # the recorder child and the forkserver die with it
            os.killpg(gateway.proc.pid, signal.SIGKILL)
        else:  # the recorder child lives on and drains what the gateway left
            os.kill(gateway.proc.pid, signal.SIGKILL)
        gateway.proc.wait(10)
        load.join()
    finally:
        gateway.kill()
    answered = set(load.answered)
    assert len(answered) == len(load.answered) >= ANSWERED_BEFORE_KILL

    # The next start on the store replays whatever ring nobody holds any more.
    after = Gateway(config)
    after.stop()
    if whole_group:  # nothing drained the ring: this start did, and says so
        assert any("handoff rings left by killed processes" in line
                   for line in after.lines), "".join(after.lines)
    rings = handoff_dir(url)
    assert _wait_until_empty(rings), list(rings.iterdir())
    missing = answered - stored_ids(url)
    assert missing == set(), f"{len(missing)} of {len(answered)} answered requests unrecorded"


def _wait_until_empty(rings: Path, timeout: float = 60.0) -> bool:
    """A ring goes once drained into the store: the orphaned child may still be at it."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not list(rings.glob("*.ring")):
            return True
        time.sleep(0.05)
    return False


class Ordered(GatewayApp):
    """The gateway, noting on its loop each answer's last byte going out, by request id."""

    events: list[tuple[str, str]]

    async def __call__(self, scope, receive, send):  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        rid = ""

        async def noting(message: dict) -> None:
            nonlocal rid
            if message["type"] == "http.response.start":
                rid = dict(message["headers"]).get(b"x-request-id", b"").decode()
            elif not message.get("more_body", False):
                self.events.append(("answered", rid))
            await send(message)

        return await super().__call__(scope, receive, noting)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_record_is_handed_off_before_its_answer_is_written(tmp_path: Path, stream: bool):
    """What the kill -9 guarantee stands on: the engine submits a request's record (the
    recorder first among its listeners) before the gateway sends the answer's last byte."""
    url = f"sqlite:///{tmp_path}/gw.db"
    config = tmp_path / "axtui.toml"
    config.write_text(CONFIG.format(url=url))
    loop = LoopThread()
    gw = Ordered(load_config(config), store_url=url, environ={})
    gw.events = []
    served = None
    try:
        served = loop.run(_serve(gw, url))
        gw.host.subscribe_records(lambda r: gw.events.append(("recorded", r.id)))
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}],
                "stream": stream}
        with httpx.Client(base_url=served.url, timeout=30) as client:
            rids = []
            for _ in range(5):
                r = client.post("/v1/chat/completions", json=body)
                assert r.status_code == 200 and (not stream or "data: [DONE]" in r.text)
                rids.append(r.headers["x-request-id"])
    finally:
        if served is not None:
            loop.run(stop_gateway(served))
        loop.close()
    assert sorted(gw.events) == sorted([("answered", r) for r in rids] +
                                       [("recorded", r) for r in rids])
    for rid in rids:
        assert gw.events.index(("recorded", rid)) < gw.events.index(("answered", rid))
    assert set(rids) <= stored_ids(url)


async def _serve(gw: GatewayApp, url: str) -> Served:
    """As harness.start_gateway, with this gateway object."""
    import asyncio
    import socket
    import time

    from axtui.gateway.serve import make_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(gw, "127.0.0.1", port)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 30
    while not server.started:  # the signal: uvicorn says it serves
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        await asyncio.sleep(0.01)
    return Served(gw, server, task, port, url)
