"""`axtui ratelimit status|reset` with [redis]: the fleet's counters are read and reset in
Redis itself, with no gateway running."""

from __future__ import annotations

import json
import sys

import pytest

from axtui.cli.main import run
from axtui.clock import RealClock
from axtui.engine.engine import Engine
from axtui.fleet.fleet import attach
from tests.fleet_redis.configs import fleet_config


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path, redis_url):
    path = tmp_path / "fleet.toml"
    path.write_text(f"""
[providers.a]
protocol = "openai"
base_url = "http://127.0.0.1:9/v1"

[[deployments]]
provider = "a"
model = "m1"
price = {{ input = "1", output = "2" }}

[routes.chat]
candidates = ["a/m1"]

[quotas.per_ip]
rpm = 2

[redis]
url = "{redis_url}"
""")

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["axtui", "ratelimit", *args, "--config", str(path)])
        try:
            run()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


@pytest.fixture
async def gateway_quotas(redis_url):
    """A serving engine's shared quotas (what a gateway process counts with)."""
    config = fleet_config(redis_url, quotas={"per_ip": {"rpm": 2}})
    engine = Engine(config, clock=RealClock(), seed=1)
    fleet = attach(engine, config.redis, origin="gw")
    yield fleet.quotas
    await fleet.aclose()
    await engine.aclose()


def test_status_reads_what_a_gateway_counted_and_reset_frees_it(cli, gateway_quotas):
    assert gateway_quotas.check(None, None, ip="10.9.0.1").ok
    assert gateway_quotas.check(None, None, ip="10.9.0.1").ok
    assert not gateway_quotas.check(None, None, ip="10.9.0.1").ok
    code, out, _ = cli("status", "--ip", "10.9.0.1", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["source"] == "redis" and body["quotas"][0]["rpm"]["remaining"] == 0
    code, out, _ = cli("reset", "--ip", "10.9.0.1", "--json")
    assert code == 0 and json.loads(out)["was_counted"] is True
    assert gateway_quotas.check(None, None, ip="10.9.0.1").ok  # the gateway sees it at once


def test_a_scope_without_a_configured_quota_is_named(cli):
    code, _, err = cli("status", "--key", "k1")
    assert code == 2
    assert err.strip() == "error: no key quota applies to 'k1' (configure [quotas.per_key])"
