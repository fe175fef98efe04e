"""`axtui serve --workers 2` on a real PostgreSQL store and a real Redis: the workers share
the records, one caller quota and the control plane, and the console's snapshot counts
them as a fleet. Skips (saying why) without the server binaries; CI installs both."""

from __future__ import annotations

import time

import openai
import pytest
from sqlalchemy import select

from axtui.config import load_config
from axtui.snapshot.build import build_snapshot
from axtui.store import open_store
from axtui.store.tables import RequestRow

from .fleet import Fleet, fake_upstream, gateways, wait_for
from .test_workers import CONFIG, record_ids, scrape, send, total

QUOTA_RPM = 30


@pytest.fixture(scope="module")
def servers():
    from tests.servers.postgres import PostgresUnavailable, start_postgres
    from tests.servers.redis import NOT_FOUND, RedisServer, find_redis_server

    if find_redis_server() is None:
        pytest.skip(NOT_FOUND)
    try:
        pg = start_postgres()
    except PostgresUnavailable as why:
        pytest.skip(f"needs a PostgreSQL server: {why}")
    redis = RedisServer.start()
    try:
        yield pg, redis
    finally:
        redis.stop()
        pg.stop()


@pytest.fixture(scope="module")
def upstream():
    with fake_upstream() as up:
        yield up


@pytest.fixture(scope="module")
def fleet(servers, upstream, tmp_path_factory):
    pg, redis = servers
    url = pg.create_database("workers_fleet")
    tmp = tmp_path_factory.mktemp("pgfleet")
    config = tmp / "axtui.toml"
    text = CONFIG.format(url=url, upstream=upstream.base_url).replace(
        "[store]\n", f'[store]\nhandoff_dir = "{tmp / "handoff"}"\n')
    config.write_text(text + f'\n[quotas.per_user]\nrpm = {QUOTA_RPM}\n'
                      f'\n[redis]\nurl = "{redis.url}"\ntimeout_s = 0.2\n'
                      f'\n[metrics]\ndir = "{tmp / "metrics"}"\n')
    f = Fleet(config, 2)
    f.store_url = url
    f.config = config
    try:
        yield f
    finally:
        f.kill()


def test_every_answer_is_a_record_in_postgresql_whichever_worker_served_it(fleet):
    answered = send(fleet.base_url, 6, 10)
    want = record_ids(answered)

    def stored() -> set[str]:
        store = open_store(fleet.store_url)
        try:
            with store.connect() as conn:
                return set(conn.execute(select(RequestRow.id)).scalars())
        finally:
            store.close()
    wait_for(lambda: want <= stored(), what="every record in PostgreSQL")
    by_pid = wait_for(lambda: (w := {p.pid: p.live.recorder.written
                                     for p in gateways(fleet.store_url)})
                      and sum(w.values()) >= len(want) and w, what="heartbeats counting them")
    assert set(by_pid) == set(fleet.pids) and all(n > 0 for n in by_pid.values()), by_pid
    samples = scrape(fleet.url)
    assert total(samples, "axtui_requests_total", route="chat") >= len(want)


def test_one_users_quota_holds_across_the_workers(fleet):
    admitted = refused = 0
    t0 = time.monotonic()
    for _ in range(3):  # three clients in turn, each on its own connection: both workers
        with openai.OpenAI(base_url=fleet.base_url, api_key="none", max_retries=0,
                           timeout=30) as client:
            for _ in range(QUOTA_RPM):
                try:
                    client.chat.completions.create(
                        model="chat", user="quota-user",
                        messages=[{"role": "user", "content": "hi"}])
                    admitted += 1
                except openai.RateLimitError:
                    refused += 1
    refill = (time.monotonic() - t0) * QUOTA_RPM / 60  # the GCRA refills meanwhile
    assert QUOTA_RPM <= admitted <= QUOTA_RPM + refill + 1, (admitted, refill)
    assert admitted + refused == 3 * QUOTA_RPM


def test_the_snapshot_of_the_store_counts_both_workers_as_the_fleet(fleet):
    cfg = load_config(fleet.config)
    store = open_store(fleet.store_url)
    try:
        snap = wait_for(lambda: (s := build_snapshot(store, cfg)).fleet.reporting == 2 and s,
                        what="two gateways reporting")
    finally:
        store.close()
    assert snap.fleet.silent == 0
    assert snap.fleet.since == pytest.approx(max(p.started_at for p in snap.processes
                                                 if p.face == "serve"))


def test_a_drain_reaches_both_workers_at_once(fleet):
    import http.client
    import json

    from axtui.engine.control import drain, undrain

    host, port = fleet.url.removeprefix("http://").split(":")
    pinned: dict[str, http.client.HTTPConnection] = {}
    for _ in range(200):  # a kept-alive connection on each worker
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/healthz")
        process = json.loads(conn.getresponse().read())["process"]
        if process in pinned:
            conn.close()
        else:
            pinned[process] = conn
        if len(pinned) == 2:
            break
    assert len(pinned) == 2

    def routable(conn: http.client.HTTPConnection) -> int:
        conn.request("GET", "/readyz")
        return json.loads(conn.getresponse().read()).get("routable", 0)

    store = open_store(fleet.store_url)
    try:
        assert all(routable(c) == 1 for c in pinned.values())
        drain(store, "up/gpt-fake", "test kill", "oncall")
        t0 = time.monotonic()
        wait_for(lambda: all(routable(c) == 0 for c in pinned.values()), 5, "both drained")
        assert time.monotonic() - t0 <= 0.5  # LISTEN/NOTIFY: not the 1 s safety-net poll
    finally:
        undrain(store, "up/gpt-fake", "oncall")
        store.close()
        for conn in pinned.values():
            conn.close()
