"""The console's quotas screen: `l` opens it over the store, it lists each running engine's
quota scopes with the limits and what its callers used and have left (from the engines'
heartbeats), says whether the counts are the fleet's or the engine's own, and says so
plainly when an engine has no quotas; esc goes back."""

from __future__ import annotations

import time

import pytest

from axtui.clock import VirtualClock
from axtui.config import QuotasConfig
from axtui.engine.limits import CallerQuotas
from axtui.store.process_status import LiveState, QuotasLive, write_process_status
from axtui.tui.context import ConsoleContext
from axtui.tui.screens.detail_quotas import QuotasScreen
from tests.tui.conftest import HostApp
from tests.tui.views import snapshot

SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
NANO = 1_000_000_000


def counted() -> QuotasLive:
    """A real engine's quota report: per-user rpm and spend, a route's tpm and a global rpm,
    after u1 made three requests and u2 one (on a clock that stands still)."""
    quotas = CallerQuotas.from_config(VirtualClock(start=1_800_000_000.0), QuotasConfig(
        per_user={"rpm": 600, "spend_day_usd": "5"}, per_route={"chat": {"tpm": 100_000}},
        **{"global": {"rpm": 6000}}))
    for user, tokens, cost in (("u1", 1200, 30_000_000), ("u1", 800, 20_000_000),
                               ("u1", 500, 10_000_000), ("u2", 400, 5_000_000)):
        assert quotas.check(user, None, route="chat").ok
        quotas.record(user, None, tokens, cost, route="chat")
    return QuotasLive.model_validate(quotas.report())


def beat(store, process_id: str, quotas: QuotasLive | None, *, age_s: float = 0.0,
         pid: int = 4242) -> None:
    with store.begin() as conn:
        write_process_status(conn, process_id=process_id, face="serve", host="gw-1", pid=pid,
                             started_at=time.time() - 60, updated_at=time.time() - age_s,
                             live=LiveState(quotas=quotas))


async def _open(app, pilot) -> str:
    await pilot.press("l")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, QuotasScreen)
    return str(app.screen.query_one("#body").render())


def _app(store) -> HostApp:
    return HostApp(ConsoleContext.with_store(store), snapshot=snapshot())


async def test_l_shows_each_scope_with_limit_used_and_remaining_at_80x24(store):
    beat(store, "serve-gw-1", counted())
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await _open(app, pilot)
        lines = text.splitlines()
        assert all(len(line) <= 78 for line in lines)
        assert lines[0] == "serve serve-gw-1  pid 4242 on gw-1"
        assert "counters local to this engine" in lines[1]
        rows = [line.split() for line in lines]
        assert ["per", "user", "u1", "600", "rpm", "3", "597"] in rows  # 3 used, 597 left
        assert ["$5.00/day", "$0.06", "$4.94"] in rows  # u1's spend today, under u1
        assert ["u2", "600", "rpm", "1", "599"] in rows
        assert ["(2", "callers)"] in rows
        assert ["route", "chat", "chat", "100,000", "tpm", "2,900", "97,100"] in rows
        assert ["global", "*", "6,000", "rpm", "4", "5,996"] in rows
        assert "  not limited: per key, per IP" in lines  # the scopes with no quota


async def test_escape_closes_the_quotas_screen(store):
    beat(store, "serve-gw-1", counted())
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, QuotasScreen)


async def test_an_engine_without_quotas_says_none_are_configured_and_how_to_add_them(store):
    beat(store, "serve-bare", QuotasLive())
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await _open(app, pilot)
        assert "no quotas configured: add [quotas.per_user]" in text
        assert "[quotas.global] or [quotas.per_route.NAME]" in text


async def test_shared_counters_are_named_as_the_fleets_and_a_redis_outage_as_local(store):
    shared = counted().model_copy(update={"shared": True})
    alone = counted().model_copy(update={"note": "redis down: this process's own counts"})
    beat(store, "serve-a", shared, pid=1)
    beat(store, "serve-b", alone, pid=2)
    app = _app(store)
    async with app.run_test(size=(80, 40)) as pilot:
        text = await _open(app, pilot)
        assert "counters shared via Redis (the fleet's counts)" in text
        assert "(2 callers seen by this engine)" in text
        assert "counters local to this engine\n  redis down: this process's own counts" in text


async def test_without_a_running_engine_it_says_so_and_counts_the_silent_ones(store):
    beat(store, "serve-gone", counted(), age_s=120)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await _open(app, pilot)
        assert text.startswith("no engine is running on this store")
        assert "1 engine not heard from lately left out (last heartbeat up to 2m ago)" in text


@SIZES
def test_quotas_screen_snapshot(snap_compare, size, store):
    beat(store, "serve-gw-1-4242-a1b2c3", counted())
    beat(store, "serve-gw-2-4343-d4e5f6", QuotasLive(), pid=4343)
    app = _app(store)
    app.install_themes()

    async def before(pilot) -> None:
        app.clear_notifications()
        app.push_screen(QuotasScreen(app.context))
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    assert snap_compare(app, terminal_size=size, run_before=before)


async def test_the_screen_reads_the_heartbeats_again_while_open(store):
    beat(store, "serve-gw-1", QuotasLive())
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "no quotas configured" in await _open(app, pilot)
        beat(store, "serve-gw-1", counted())  # its next heartbeat, after a config reload
        app.screen.refresh_figures()  # what its timer does every REFRESH_S
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "global       *" in str(app.screen.query_one("#body").render())


async def test_a_scope_nobody_used_yet_shows_its_limits(store):
    quotas = CallerQuotas.from_config(VirtualClock(), QuotasConfig(
        per_ip={"rpm": 100, "spend_day_usd": "2"}))
    beat(store, "serve-new", QuotasLive.model_validate(quotas.report()))
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        rows = [line.split() for line in (await _open(app, pilot)).splitlines()]
        assert ["per", "IP", "(no", "caller", "yet)", "100", "rpm,", "$2/day"] in rows


async def test_the_palettes_console_quotas_command_opens_it(store):
    from axtui.tui.commands import console_commands

    beat(store, "serve-gw-1", counted())
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        [run] = [fn for name, fn, _ in console_commands(app) if name == "console: quotas"]
        run()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, QuotasScreen)
        assert "global       *" in str(app.screen.query_one("#body").render())
