"""Run the gateway for real in tests: uvicorn (httptools) on a 127.0.0.1 ephemeral port, in
an event loop on a background thread that also hosts the loopback fake upstreams, so a
test may use the blocking `openai.OpenAI` client, an async one, or a subprocess."""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from axtui.config import Config, parse_config
from axtui.gateway.app import Gateway
from axtui.gateway.serve import _Server, make_server
from axtui.records import RequestRecord
from axtui.store.db import open_store
from tests.fakes.loopback import Reply
from tests.fakes.openai_upstream import OpenAIUpstream, error_body

T = TypeVar("T")

ADMIN_ENV = "AXTUI_TEST_ADMIN_TOKEN"
ADMIN_TOKEN = "admin-secret-for-tests"


class LoopThread:
    """An event loop running on its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Failing(OpenAIUpstream):
    """Every request gets the same error status (a dead or rate-limited upstream)."""

    def __init__(self, status: int = 500, headers: dict[str, str] | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.status = status
        self.error_headers = dict(headers or {})

    def check(self, rec):  # noqa: ANN001 - the fake's hook
        etype = "requests" if self.status == 429 else "server_error"
        return Reply(self.status, dict(self.error_headers),
                     error_body(f"fake failure {self.status}", etype))


@dataclass
class Served:
    gateway: Gateway
    server: _Server
    task: asyncio.Task
    port: int
    store_url: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


async def until(predicate: Callable[[], Any], what: str, timeout_s: float = 10.0) -> None:
    """Wait, polling every 10 ms, until `predicate()` (awaited when it is a coroutine) is
    true; fail naming `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        done = predicate()
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def start_gateway(config: Config, store_url: str, environ: dict[str, str] | None = None,
                        trace_path: str | None = None) -> Served:
    gw = Gateway(config, store_url=store_url, environ=environ or {}, trace_path=trace_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(gw, "127.0.0.1", port)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        await asyncio.sleep(0.01)
    return Served(gw, server, task, port, store_url)


async def stop_gateway(served: Served) -> None:
    served.server.should_exit = True
    await asyncio.wait_for(served.task, 30)


def make_config(data: dict[str, Any]) -> Config:
    return parse_config(copy.deepcopy(data), "gateway-test.toml")


def openai_provider(url: str) -> dict[str, Any]:
    return {"protocol": "openai", "base_url": url, "timeout": {"connect": 2, "read": 10,
                                                               "total": 20}}


def deployment(provider: str, model: str, **kw: Any) -> dict[str, Any]:
    return {"provider": provider, "model": model, "price": {"input": "1", "output": "2"},
            "capabilities": ["streaming", "tools", "json"], "context_window": 128000, **kw}


def store_records(url: str, expect: int | None = None, timeout: float = 5.0,
                  **filters: Any) -> list[RequestRecord]:
    """The store's records, waiting (for the recorder's flush) until `expect` are there."""
    store = open_store(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = store.recent_records(limit=100_000, **filters)
            if expect is None or len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
    finally:
        store.close()


def wait_for_records(url: str, match: Callable[[RequestRecord], bool], n: int = 1,
                     timeout: float = 5.0) -> list[RequestRecord]:
    """Records for which `match` holds, once at least `n` are stored (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in store_records(url) if match(r)]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
