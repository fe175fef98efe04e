"""A client that leaves cancels the upstream call, and the record says `cancelled`."""

from __future__ import annotations

import asyncio
import collections
import time

import httpx
import pytest

from axtui.gateway.answering import Watch

from .conftest import KEYS, Env
from .harness import wait_for_records

AUTH = {"authorization": f"Bearer {KEYS['alice']}"}
HELLO = [{"role": "user", "content": "hi"}]


def test_a_client_that_times_out_cancels_the_upstream_call(env: Env):
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{env.base_url}/chat/completions", headers=AUTH, timeout=0.3,
                   json={"model": "slow", "messages": HELLO})
    [rec] = wait_for_records(env.served.store_url, lambda r: r.requested_route == "slow")
    assert rec.outcome == "cancelled"
    assert rec.error_kind == "cancelled"
    assert rec.latency_ms < 1000  # the slow upstream takes 1.5 s to answer
    assert env.slow.received == 1
    time.sleep(max(0.0, 1.7 - (time.monotonic() - t0)))
    assert env.slow.served == 0  # the upstream's handler was cut, not left to finish


def test_a_client_that_leaves_a_stream_cancels_it(env: Env):
    env.a.answer("one two three four five six seven", event_delay_s=0.4, slow_from=2)
    with httpx.stream("POST", f"{env.base_url}/chat/completions", headers=AUTH, timeout=5,
                      json={"model": "chat", "messages": HELLO, "stream": True}) as r:
        rid = r.headers["x-request-id"]
        first = next(r.iter_lines())
        assert first.startswith("data: {")
    [rec] = wait_for_records(env.served.store_url, lambda r: r.id == rid)
    assert rec.outcome == "cancelled"
    assert rec.stream and rec.deployment == "a/gpt-a"
    assert rec.attempts[-1].error_kind == "cancelled"
    assert rec.latency_ms < 1500  # the whole answer would take over 2 s


# ------------------------------------------------------------------- the watch itself


class _Receive:
    """uvicorn's receive() in miniature: waits on an asyncio.Event, then says disconnect
    once the client has gone (or the response is complete)."""

    def __init__(self, pending: list[dict] | None = None) -> None:
        self.event = asyncio.Event()
        self.gone = False
        self.pending = list(pending or [])
        self.calls = 0

    async def __call__(self) -> dict:
        self.calls += 1
        if self.pending:
            return self.pending.pop(0)
        if not self.gone:
            await self.event.wait()
            self.event.clear()
        return {"type": "http.disconnect"} if self.gone else {"type": "http.request"}


async def test_the_watch_cancels_its_handler_when_the_client_goes_without_a_task():
    receive = _Receive(pending=[{"type": "http.request", "body": b"", "more_body": False}])
    cancelled = asyncio.Event()

    async def handler() -> bool:
        tasks = len(asyncio.all_tasks())
        watch = Watch(receive)
        assert len(asyncio.all_tasks()) == tasks  # no watcher task
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            return watch.absorb()
        finally:
            watch.stop()
        return False

    task = asyncio.ensure_future(handler())
    await asyncio.sleep(0.01)
    assert receive.calls == 2  # the message already there was read, then it listened
    receive.gone = True
    receive.event.set()
    assert await asyncio.wait_for(task, 1) is True  # absorbed: the client left
    assert cancelled.is_set() and not task.cancelled()


async def test_a_stopped_watch_lets_go_of_receive():
    receive = _Receive()

    async def handler() -> None:
        watch = Watch(receive)
        await asyncio.sleep(0)
        watch.stop()
        assert receive.event._waiters == collections.deque()  # receive() stopped waiting
        receive.gone = True
        receive.event.set()
        await asyncio.sleep(0.01)  # not cancelled: the watch is over

    await asyncio.wait_for(handler(), 1)
    assert receive.calls == 1


async def test_a_client_already_gone_cancels_at_the_first_await():
    receive = _Receive()
    receive.gone = True

    async def handler() -> bool:
        watch = Watch(receive)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return watch.absorb()
        return False

    assert await asyncio.wait_for(handler(), 1) is True
