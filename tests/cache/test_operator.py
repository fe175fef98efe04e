"""What an operator sees of the cache and does to it, through a real store: hit rates in
the snapshot, `axtui cache stats|clear`, /metrics' cache series. The engine runs in a
runtime host (scripted providers, virtual clock) on the bundled demo config's chat-faq."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from axtui.cli.main import app
from axtui.config import load_config
from axtui.prometheus.records import RecordMetrics
from axtui.providers.base import ChatRequest
from axtui.snapshot.build import build_snapshot
from axtui.store.db import open_store
from tests.prometheus.exposition import samples, value
from tests.runtime.conftest import make_host

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
ROUTE = "chat-faq"


def faq(text: str = "How do I reset my password?") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], model=ROUTE,
                       temperature=0.0)


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["cache", *args])
    return result.exit_code, result.output


def test_hits_show_in_cache_stats_the_snapshot_and_the_records(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    clock, host, _ = make_host(url, config=load_config(), face="serve")

    async def main():
        async with host:
            for text in ("How do I reset my password?",) * 3 + ("Where is my parcel?",):
                await host.engine.complete(faq(text))
            await host.publish_status()
            return cli("stats", "--store", url, "--json")

    code, out = clock.run(main())
    assert code == 0, out
    [row] = json.loads(out)["routes"]
    live = row["live"]
    assert (row["route"], live["processes"], live["lookups"], live["exact"]) == (ROUTE, 1, 4, 2)
    assert live["entries"] == 2 and live["hit_rate"] == 0.5

    code, out = cli("stats", "--store", url, "--json")  # the host stopped: records written
    [row] = json.loads(out)["routes"]
    assert (row["requests"], row["hits"], row["hit_rate"], row["live"]) == (4, 2, 0.5, None)
    store = open_store(url)
    snap = build_snapshot(store, load_config(), now=clock.now())
    views = {r.name: r for r in snap.routes}
    assert (views[ROUTE].cache_hits, views[ROUTE].cache_hit_rate) == (2, 0.5)
    assert views["chat"].cache_hit_rate is None  # no cache on chat
    hits = [r for r in store.recent_records(limit=10) if r.cache]
    assert [(r.cache, r.cost_nano, r.deployment) for r in hits] == [("exact", 0, None)] * 2
    code, out = cli("stats", "--store", url)
    assert code == 0 and "50.0%" in out


def test_cache_clear_reaches_a_running_engine_within_a_poll(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    clock, host, _ = make_host(url, config=load_config())

    async def main():
        async with host:
            await host.engine.complete(faq())
            code, out = cli("clear", "--route", ROUTE, "--store", url, "--by", "ops", "--json")
            assert code == 0, out
            assert json.loads(out)["routes"] == [ROUTE]
            await host.refresh_control()  # what the next control poll does
            return (await host.engine.complete(faq())).record

    after = clock.run(main())
    assert after.cache is None
    [event] = open_store(url).events(kind="cache_clear")
    assert event.subject == ROUTE and event.detail["by"] == "ops"


def test_cache_commands_name_a_route_without_a_cache_and_exit_2(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def axtui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "axtui.cli.main", "cache", *args,
                               "--store", url], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env=env)

    done = axtui("clear", "--route", "chat")
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: route 'chat' has no cache ([routes.chat.cache]); "
                                   "routes that cache: chat-faq")
    done = axtui("stats", "--route", "nope")
    assert done.returncode == 2 and done.stderr.startswith("error: unknown route 'nope'")
    done = axtui("stats", "--range", "soon")
    assert done.returncode == 2 and "--range 'soon'" in done.stderr
    assert "Traceback" not in done.stderr


def test_metrics_count_hits_by_kind_and_the_saving(tmp_path):
    clock, host, _ = make_host(f"sqlite:///{tmp_path}/c.db", config=load_config())

    async def main():
        async with host:
            return [(await host.engine.complete(faq())).record for _ in range(3)]

    records = clock.run(main())
    metrics = RecordMetrics(tmp_path / "metrics", routes=[ROUTE])
    metrics.observe(records)
    metrics.close()
    found = samples(tmp_path / "metrics")
    assert value(found, "axtui_cache_hits_total", route=ROUTE, cache="exact") == 2
    saved = sum(r.optimal_cost_nano for r in records[1:]) / 1e9
    assert abs(value(found, "axtui_cache_saved_usd_total", route=ROUTE) - saved) < 1e-12
    assert saved > 0
