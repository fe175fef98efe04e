"""Periodic jobs on the host's clock: on time, off the loop, and never fatal."""

from __future__ import annotations

import asyncio
import threading

import pytest

from axtui.clock import RealClock

from .conftest import ask, make_host


def test_a_job_runs_every_interval_of_virtual_time_at_that_time(url):
    clock, host, _ = make_host(url)
    seen: list[float] = []

    async def main():
        async with host:
            t0 = clock.now()
            host.add_job("tick", 15, seen.append)
            await asyncio.sleep(61)
            return t0

    t0 = clock.run(main())
    assert [round(t - t0) for t in seen] == [15, 30, 45, 60]


def test_a_failing_job_is_counted_logged_and_the_host_keeps_running(url, caplog):
    clock, host, _ = make_host(url)

    def broken(now: float) -> None:
        raise ValueError("rule 7 has no metric")

    async def main():
        async with host:
            job = host.add_job("alerts", 10, broken)
            await asyncio.sleep(65)
            record = (await host.engine.complete(ask())).record  # still routing
            return job.stats(), host.stats(), record

    with caplog.at_level("WARNING"):
        job, stats, record = clock.run(main())
    assert (job.runs, job.failures) == (6, 6)
    assert job.last_error == "ValueError: rule 7 has no metric"
    assert next(j for j in stats.jobs if j.name == "alerts") == job
    assert stats.state == "running" and record.outcome.value == "ok"
    assert "job alerts failed (6 so far): ValueError: rule 7 has no metric" in caplog.text


def test_a_job_that_fails_once_carries_on_at_its_next_tick(url):
    clock, host, _ = make_host(url)
    calls = []

    def flaky(now: float) -> None:
        calls.append(now)
        if len(calls) == 1:
            raise OSError("database is locked")

    async def main():
        async with host:
            job = host.add_job("compaction", 60, flaky)
            await asyncio.sleep(181)
            return job.stats()

    stats = clock.run(main())
    assert (stats.runs, stats.failures, len(calls)) == (3, 1, 3)


def test_on_a_real_clock_a_blocking_job_runs_off_the_event_loop(url):
    _, host, _ = make_host(url, clock=RealClock())

    async def main():
        ran = asyncio.Event()
        loop = asyncio.get_running_loop()
        threads = []

        def job(now: float) -> None:
            threads.append(threading.get_ident())
            loop.call_soon_threadsafe(ran.set)

        async with host:
            host.add_job("evaluate", 0.01, job)
            await asyncio.wait_for(ran.wait(), 5)
        return threads

    threads = asyncio.run(main())
    assert threads and threading.get_ident() not in threads


def test_job_names_are_unique_and_intervals_positive(url):
    _, host, _ = make_host(url)
    host.add_job("alerts", 15, lambda now: None)
    with pytest.raises(ValueError, match="already runs"):
        host.add_job("alerts", 15, lambda now: None)
    with pytest.raises(ValueError, match="interval_s must be positive"):
        host.add_job("retention", 0, lambda now: None)


def test_stop_waits_for_a_job_run_in_progress(url):
    _, host, _ = make_host(url, clock=RealClock())
    finished = threading.Event()
    started = threading.Event()

    def slow(now: float) -> None:
        started.set()
        finished.wait(5)

    async def main():
        async with host:
            host.add_job("slow", 0.01, slow)
            await asyncio.to_thread(started.wait, 5)
            asyncio.get_running_loop().call_later(0.3, finished.set)  # well after stop()
        return finished.is_set()

    assert asyncio.run(main()) is True
