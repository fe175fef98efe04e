"""Whether control-plane changes reach a gateway by LISTEN/NOTIFY or by polling is visible:
/readyz's `control_sync` and `degraded`, the heartbeat and the snapshot's processes and
problems, and a warning event when LISTEN is lost, an info event when it is back. The
LISTEN connection is killed for real (pg_terminate_backend); requests are served all along."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from sqlalchemy import text

from axtui.cli.status_text import render
from axtui.snapshot.build import build_snapshot
from axtui.store import open_store
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fleet_redis.configs import fleet_config
from tests.gateway.harness import start_gateway, stop_gateway, until

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}



def _config(base_url: str):
    config = fleet_config(None, base_url=base_url)
    return config.model_copy(update={"store": config.store.model_copy(
        update={"recorder": "thread"})})


def _kill_listen_connections(url: str) -> int:
    with open_store(url) as store, store.begin() as conn:
        return conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query = 'LISTEN axtui_control' AND datname = current_database()")).scalar()


async def test_losing_listen_shows_polling_everywhere_until_it_is_back(pg_url):
    async with OpenAIUpstream() as up:
        config = _config(up.base_url)
        served = await start_gateway(config, pg_url)
        host = served.gateway.services.host
        try:
            async with httpx.AsyncClient(base_url=served.url) as http:
                async def sync() -> dict:
                    return (await http.get("/readyz")).json()["control_sync"]

                async def notifying() -> bool:
                    return (await sync())["mode"] == "notify"

                await until(notifying, "the LISTEN connection")
                ready = (await http.get("/readyz")).json()
                assert ready["status"] == "ready" and ready["degraded"] == []
                assert ready["control_sync"] | {"since": None} == {
                    "mode": "notify", "since": None, "listen": True, "drops": 0,
                    "last_error": None}

                host.sync.listener.retry_s = 60.0  # stays down until the test lets it back
                assert await asyncio.to_thread(_kill_listen_connections, pg_url) == 1

                async def polling() -> bool:
                    return (await sync())["mode"] == "polling"

                await until(polling, "the fall-back to polling")
                r = await http.get("/readyz")
                assert r.status_code == 200 and r.json()["status"] == "ready"
                state = r.json()["control_sync"]
                assert (state["listen"], state["drops"]) == (True, 1)
                assert state["last_error"].startswith("OperationalError: ")
                assert r.json()["degraded"] == [
                    f"control plane: LISTEN connection down, polling the store every "
                    f"{host.sync.interval_s:g}s ({state['last_error']})"]
                assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200

                await host.publish_status()
                snap = await asyncio.to_thread(build_snapshot, host.store, config)
                [me] = [p for p in snap.processes if p.id == host.process_id]
                assert me.control_sync.mode == "polling" and me.control_sync.drops == 1
                assert f"process {host.process_id}: control plane polling, LISTEN connection " \
                       f"down ({state['last_error']})" in snap.problems
                assert "POLLING (LISTEN down)" in render(snap)  # axtui monitor status

                host.sync.listener.retry_s = 0.0
                await until(notifying, "LISTEN to be restored")
                ready = (await http.get("/readyz")).json()
                assert ready["degraded"] == [] and ready["control_sync"]["drops"] == 1
                assert ready["control_sync"]["since"] > state["since"]

                await host.publish_status()
                snap = await asyncio.to_thread(build_snapshot, host.store, config)
                assert not [p for p in snap.problems if "control plane" in p]

                async def both_logged() -> bool:
                    events = await asyncio.to_thread(host.store.events, kind="control_sync")
                    return len(events) == 2

                await until(both_logged, "the two control_sync events")
                restored, lost = await asyncio.to_thread(host.store.events, kind="control_sync")
                assert (lost.subject, lost.detail["mode"], lost.detail["level"]) == (
                    host.process_id, "polling", "warning")
                assert lost.detail["error"] == state["last_error"]
                assert (restored.detail["mode"], restored.detail["level"]) == ("notify", "info")
        finally:
            await stop_gateway(served)


async def test_a_change_after_listen_is_restored_arrives_by_notification(pg_url):
    async with OpenAIUpstream() as up:
        served = await start_gateway(_config(up.base_url), pg_url)
        host = served.gateway.services.host
        try:
            listener = host.sync.listener
            await until(lambda: listener.state == "notify", "the LISTEN connection")
            listener.retry_s = 0.0
            assert await asyncio.to_thread(_kill_listen_connections, pg_url) == 1
            await until(lambda: listener.drops == 1 and listener.state == "notify",
                         "LISTEN to be restored")
            before = listener.notifications
            with open_store(pg_url) as other:
                await asyncio.to_thread(other.set_control, "drain:a/m1", {"reason": "t"},
                                        by="oncall")
            await until(lambda: listener.notifications > before, "the notification")
        finally:
            await stop_gateway(served)


async def test_a_sqlite_gateway_polls_by_design_and_is_not_degraded(tmp_path):
    async with OpenAIUpstream() as up:
        served = await start_gateway(_config(up.base_url), f"sqlite:///{tmp_path / 'a.db'}")
        try:
            async with httpx.AsyncClient(base_url=served.url) as http:
                ready = (await http.get("/readyz")).json()
            assert ready["degraded"] == []
            assert ready["control_sync"] | {"since": None} == {
                "mode": "polling", "since": None, "listen": False, "drops": 0,
                "last_error": None}
        finally:
            await stop_gateway(served)


def test_a_listener_that_cannot_connect_at_start_polls_and_says_so_once():
    from sqlalchemy.engine import make_url

    from axtui.store.pg_notify import ControlListener
    from axtui.store.postgres import create_postgres_engine

    engine = create_postgres_engine(make_url("postgresql+psycopg://axtui@127.0.0.1:1/none"))
    told: list[str] = []
    failed = threading.Event()
    listener = ControlListener(engine, lambda: None,
                               lambda state: (told.append(state), failed.set()))
    listener.retry_s = 0.0
    try:
        assert failed.wait(10)
        wait_until = time.monotonic() + 10  # several retries, each failing again
        while listener.errors < 3:
            assert time.monotonic() < wait_until, "the listener stopped retrying"
            time.sleep(0.01)
        assert listener.state == "polling" and listener.drops == 1
        assert listener.last_error.startswith("OperationalError: ")
        assert told == ["polling"]  # one fall-back, not one per retry
    finally:
        listener.close()
        engine.dispose()
