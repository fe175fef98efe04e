"""`axtui serve --workers N` for real: a supervisor and N gateway processes on one port,
the official `openai` SDK as the client, a loopback fake upstream, the store an SQLite file.
Every answered request has its record, whichever worker served it, even one killed -9."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from axtui.store import open_store
from axtui.store.tables import RequestRow
from tests.fakes.openai_upstream import OpenAIUpstream

from .fleet import Fleet, alive, fake_upstream, gateways, pinned_clients, wait_for

CLIENTS = 8
PER_CLIENT = 15

CONFIG = """
[store]
url = "{url}"
[providers.up]
protocol = "openai"
base_url = "{upstream}"
timeout = {{ connect = 2, read = 10, total = 20 }}
[[deployments]]
provider = "up"
model = "gpt-fake"
price = {{ input = "1", output = "2" }}
capabilities = ["streaming", "tools", "json"]
context_window = 128000
[routes.chat]
candidates = ["up/gpt-fake"]
"""


@pytest.fixture(scope="module")
def upstream():
    with fake_upstream() as up:
        yield up


def write_config(tmp: Path, upstream: OpenAIUpstream) -> tuple[Path, str]:
    url = f"sqlite:///{tmp}/fleet.db"
    config = tmp / "axtui.toml"
    config.write_text(CONFIG.format(url=url, upstream=upstream.base_url))
    return config, url


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, upstream):
    """Two workers that have answered CLIENTS × PER_CLIENT requests from the SDK."""
    config, url = write_config(tmp_path_factory.mktemp("fleet"), upstream)
    f = Fleet(config, 2)
    f.store_url = url
    try:
        f.answered = send(f.base_url, CLIENTS, PER_CLIENT)
        yield f
    finally:
        f.kill()


def send(base_url: str, clients: int, each: int, workers: int = 2) -> list[str]:
    """`clients` SDK clients (a connection each, spread evenly over the `workers`) sending
    `each` requests; the answers' ids."""
    connections = pinned_clients(base_url, workers, clients // workers)

    def one_client(http: httpx.Client) -> list[str]:
        with openai.OpenAI(base_url=base_url, api_key="none", max_retries=0,
                           timeout=30, http_client=http) as client:
            return [client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hello"}]).id
                for _ in range(each)]
    with ThreadPoolExecutor(len(connections)) as pool:
        return [rid for ids in pool.map(one_client, connections) for rid in ids]


def stored_ids(url: str) -> set[str]:
    store = open_store(url)
    try:
        with store.connect() as conn:
            return set(conn.execute(select(RequestRow.id)).scalars())
    finally:
        store.close()


def record_ids(answer_ids: list[str]) -> set[str]:
    return {rid.removeprefix("chatcmpl-") for rid in answer_ids}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items()
               if n == name and all(dict(lab).get(k) == x for k, x in labels.items()))


# ---------------------------------------------------------------------- serving


def test_each_worker_reports_its_own_heartbeat(fleet):
    rows = wait_for(lambda: len(gateways(fleet.store_url)) == 2 and gateways(fleet.store_url),
                    what="two serve heartbeats")
    assert sorted(p.pid for p in rows) == sorted(fleet.pids)


def test_the_sdk_requests_are_served_by_more_than_one_worker(fleet):
    n = CLIENTS * PER_CLIENT

    def written_by_each() -> dict[int, int] | None:
        by_pid = {p.pid: p.live.recorder.written for p in gateways(fleet.store_url)}
        return by_pid if sum(by_pid.values()) == n else None

    by_pid = wait_for(written_by_each, what=f"heartbeats counting {n} records")
    assert set(by_pid) == set(fleet.pids)
    assert all(count > 0 for count in by_pid.values()), by_pid


def test_every_answered_request_has_its_record(fleet):
    want = record_ids(fleet.answered)
    assert len(want) == CLIENTS * PER_CLIENT
    wait_for(lambda: want <= stored_ids(fleet.store_url), what="every record stored")


def test_metrics_add_up_across_the_workers(fleet):
    n = CLIENTS * PER_CLIENT
    wait_for(lambda: total(scrape(fleet.url), "axtui_requests_total", route="chat") == n,
             what=f"axtui_requests_total == {n}")
    # each worker publishes its own recorder's count (every publish_s); the scrape sums them
    wait_for(lambda: total(scrape(fleet.url), "axtui_recorder_written_total") == n,
             what=f"axtui_recorder_written_total == {n}")


def test_metrics_gauges_count_the_workers_and_settle_when_idle(fleet):
    samples = scrape(fleet.url)  # any worker answers the scrape for the whole directory
    assert total(samples, "axtui_breaker_state", deployment="up/gpt-fake",
                 state="closed") == 2  # livesum: one per worker that sees it closed
    assert total(samples, "axtui_inflight_requests") <= 1  # the scrape itself, at most
    assert total(samples, "axtui_headroom_ratio", deployment="up/gpt-fake") == 1.0  # livemin


# ---------------------------------------------------------------------- lifecycle


def test_a_killed_worker_is_reported_and_replaced_and_sigterm_stops_them_all(tmp_path,
                                                                              upstream):
    """kill -9 of a worker under load: reported, restarted, its records replayed; then
    SIGTERM: every worker drains and exits, exit code 0, no heartbeat left, nothing lost."""
    config, url = write_config(tmp_path, upstream)
    f = Fleet(config, 2)
    answered: list[str] = []
    stop = threading.Event()

    def keep_sending() -> None:
        with openai.OpenAI(base_url=f.base_url, api_key="none", max_retries=3,
                           timeout=30) as client:
            while not stop.is_set():
                try:
                    answered.append(client.chat.completions.create(
                        model="chat", messages=[{"role": "user", "content": "hi"}]).id)
                except openai.APIConnectionError:  # its connection was on the killed worker
                    continue
    try:
        threads = [threading.Thread(target=keep_sending, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(answered) >= 40, 60, "traffic before the kill")
        victim = f.pids[0]
        os.kill(victim, signal.SIGKILL)
        line = f.wait_line(lambda s: f"(pid {victim}) was killed by SIGKILL" in s)
        assert "restarting it" in line
        back = f.wait_line(lambda s: "worker 1 ready again" in s, 120)
        newcomer = int(back.split("pid")[1].strip(" )\n"))
        seen = len(answered)
        wait_for(lambda: len(answered) >= seen + 40, 60, "traffic after the restart")
        stop.set()
        for t in threads:
            t.join(30)
        rows = wait_for(lambda: {p.pid for p in gateways(url)} == {newcomer, f.pids[1]}
                        and gateways(url), what="the replacement's heartbeat, the dead one's gone")
        assert len(rows) == 2
        assert f.stop() == 0, "".join(f.lines)
        assert not any(alive(pid) for pid in (*f.pids, newcomer))
        assert gateways(url) == []
        store = open_store(url)
        try:
            exits = [e for e in store.events() if e.kind == "worker_exit"]
        finally:
            store.close()
        assert [(e.detail["pid"], e.detail["code"]) for e in exits] == [(victim, -9)]
        assert record_ids(answered) <= stored_ids(url)  # the dead worker's ring was replayed
    finally:
        stop.set()
        f.kill()


def test_the_workers_stop_when_the_supervisor_is_killed(tmp_path, upstream):
    config, _ = write_config(tmp_path, upstream)
    f = Fleet(config, 2)
    try:
        f.proc.kill()  # no chance to forward anything: PR_SET_PDEATHSIG does
        f.proc.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in f.pids), 90, "the workers to exit")
    finally:
        f.kill()
