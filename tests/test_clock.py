"""The virtual clock's event loop: asyncio semantics, in virtual time, with its own timer
heap (tuples and bare sleeper futures) and real I/O polled every few iterations."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from axtui.clock import VirtualClock


def test_timers_fire_in_time_order_and_ties_in_scheduling_order():
    clock = VirtualClock()
    fired: list[tuple[str, float]] = []

    async def main():
        loop = asyncio.get_running_loop()
        for name, delay in (("c", 3.0), ("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("b3", 2.0)):
            loop.call_later(delay, lambda n=name: fired.append((n, clock.monotonic())))
        await clock.sleep(5)

    t = time.perf_counter()
    clock.run(main())
    assert fired == [("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("b3", 2.0), ("c", 3.0)]
    assert clock.monotonic() == 5.0
    assert time.perf_counter() - t < 2.0  # virtual: no real waiting


def test_an_hour_of_sleeps_across_many_tasks_takes_no_real_time():
    clock = VirtualClock()
    woke: list[float] = []

    async def sleeper(i: int):
        await clock.sleep(i * 36.0)
        woke.append(clock.monotonic())
        await asyncio.sleep(i * 0.5)  # asyncio's own sleep is virtual too
        woke.append(clock.monotonic())

    async def main():
        await asyncio.gather(*(sleeper(i) for i in range(1, 101)))

    t = time.perf_counter()
    clock.run(main())
    assert clock.monotonic() == pytest.approx(3600 + 50)
    assert woke == sorted(woke)
    assert len(woke) == 200
    assert time.perf_counter() - t < 2.0


def test_a_cancelled_sleep_never_wakes_and_a_cancelled_timer_never_runs():
    clock = VirtualClock()
    ran: list[str] = []

    async def main():
        loop = asyncio.get_running_loop()
        handle = loop.call_later(1.0, ran.append, "timer")
        task = asyncio.ensure_future(clock.sleep(2.0))
        await clock.sleep(0.5)
        handle.cancel()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await clock.sleep(5.0)
        return task.cancelled()

    assert clock.run(main()) is True
    assert ran == []
    assert clock.monotonic() == 5.5


def test_many_cancelled_timers_are_swept_from_the_heap():
    clock = VirtualClock()

    async def main():
        loop = asyncio.get_running_loop()
        handles = [loop.call_later(100.0 + i, lambda: None) for i in range(1000)]
        for h in handles[:900]:
            h.cancel()
        await asyncio.sleep(0)  # one iteration sweeps
        await asyncio.sleep(0)
        return len(loop._scheduled)

    assert clock.run(main()) <= 101


def test_timeouts_run_in_virtual_time():
    clock = VirtualClock()

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.0):
                await clock.sleep(10.0)
        return clock.monotonic()

    assert clock.run(main()) == 2.0


def test_callbacks_and_results_from_other_threads_arrive():
    clock = VirtualClock()

    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        threading.Thread(target=lambda: loop.call_soon_threadsafe(got.set_result, 42)).start()
        value = await got
        worked = await asyncio.to_thread(lambda: "from a thread")
        return value, worked

    assert clock.run(main()) == (42, "from a thread")


def test_real_sockets_are_served_while_virtual_timers_are_pending():
    clock = VirtualClock()

    async def main():
        async def echo(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ticker_done = asyncio.ensure_future(tick())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        await writer.drain()
        line = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        ticker_done.cancel()
        return line

    async def tick():  # keeps timers in the heap, so the loop keeps jumping
        while True:
            await clock.sleep(0.001)

    assert clock.run(main()) == b"ping\n"


def test_sleep_outside_the_virtual_loop_is_asyncio_sleep():
    clock = VirtualClock()  # a test that advances this clock by hand, on a normal loop
    order: list[str] = []

    async def other():
        order.append("other")

    async def main():
        task = asyncio.ensure_future(other())
        t = time.perf_counter()
        await clock.sleep(0.02)  # yields, and waits in real time
        order.append("main")
        await task
        return time.perf_counter() - t

    assert asyncio.run(main()) >= 0.015
    assert order == ["other", "main"]
    assert clock.monotonic() == 0.0  # only advance() moves it there


def test_a_thread_waiting_for_the_gil_is_not_starved_by_a_busy_virtual_loop():
    """A thread waiting for the GIL asks for a switch only after 5 ms without a release;
    a loop that releases it more often (each I/O poll) kept such threads off for seconds
    (the process recorder's handoff thread). The loop polls at most every 10 ms."""
    clock = VirtualClock()
    lags: list[float] = []
    stop = threading.Event()

    def waiter():
        while not stop.is_set() and len(lags) < 20:
            t = time.monotonic()
            stop.wait(0.02)  # times out: then it needs the GIL back
            lags.append(time.monotonic() - t - 0.02)

    async def busy(i: int):
        for n in range(20_000):
            await clock.sleep(0.001 * ((i + n) % 7 + 1))
            if len(lags) >= 20:
                return

    async def main():
        thread = threading.Thread(target=waiter)
        thread.start()
        await asyncio.gather(*(busy(i) for i in range(50)))
        stop.set()
        await asyncio.to_thread(thread.join)

    clock.run(main())
    assert len(lags) == 20
    assert max(lags) < 0.5, f"the thread waited up to {max(lags):.3f} s for the GIL"
