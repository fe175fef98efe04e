"""The host's store upkeep: retention and the cost folds run as jobs on its clock."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from axtui.store.tables import RequestRow
from tests.store.factory import record

from .conftest import make_host, other_process

DAY = 86400.0


def _rows(url: str) -> int:
    store = other_process(url)
    try:
        with store.connect() as conn:
            return conn.execute(select(func.count()).select_from(RequestRow.__table__)).scalar()
    finally:
        store.close()


def test_records_past_raw_retention_are_pruned_within_an_hour_of_host_time(url):
    clock, host, _ = make_host(url)
    now = clock.now()
    old = other_process(url)
    old.write_records([record(started_at=now - 8 * DAY + i) for i in range(5)]
                      + [record(started_at=now - 1 * DAY + i) for i in range(3)])
    old.close()

    async def main():
        async with host:
            await asyncio.sleep(3601)
            return host.stats()

    stats = clock.run(main())
    job = next(j for j in stats.jobs if j.name == "retention")
    assert (job.runs, job.failures) == (1, 0)
    assert _rows(url) == 3  # the 8-day-old ones are gone; raw rows keep 7 days


def test_the_cost_fold_runs_every_minute_and_folds_what_landed(url):
    from axtui.costs.folded import watermark

    clock, host, _ = make_host(url)
    now = clock.now()
    old = other_process(url)
    old.write_records([record(started_at=now - 600 + i) for i in range(4)])
    old.close()

    async def main():
        async with host:
            await asyncio.sleep(61)
            return host.stats()

    stats = clock.run(main())
    job = next(j for j in stats.jobs if j.name == "cost-fold")
    assert (job.runs, job.failures) == (1, 0)
    store = other_process(url)
    try:
        with store.connect() as conn:
            assert watermark(conn) == 4
    finally:
        store.close()


def test_a_host_without_upkeep_runs_no_retention_or_cost_folds(url):
    clock, host, _ = make_host(url, upkeep=False)

    async def main():
        async with host:
            await asyncio.sleep(3601)
            return host.stats()

    names = {j.name for j in clock.run(main()).jobs}
    assert "retention" not in names and "cost-fold" not in names
