"""`axtui agents list|show|stop` as a user runs them: what they print, --json, exit codes
(1 when an agent shown has crashed, 2 for an unknown id)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from axtui.agents import Agent, Limits
from axtui.cli.main import app
from axtui.cli.output import CliError
from axtui.clock import VirtualClock
from axtui.engine.engine import Engine
from axtui.providers.base import ChatRequest
from axtui.store import agents as rows
from axtui.store.db import open_store
from tests.agents.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run_budgeted_agent(url: str) -> None:
    """`spender`: stopped by its $0.0002 budget after some cheap calls."""
    clock = VirtualClock()
    store = open_store(url)
    engine = Engine(make_config(), clock=clock, seed=3)

    async def work():
        async with Agent(engine, store, "spender", limits=Limits.of(budget_usd="0.0002")) as a:
            while True:
                await a.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}],
                                             model="cheap", max_tokens=50), complexity="low")

    clock.run(work())
    store.close()


def add_crashed_agent(url: str) -> None:
    """`ghost`: running, its last heartbeat a minute old (its process died)."""
    store = open_store(url)
    with store.begin() as conn:
        rows.create_agent(conn, "ghost", now=time.time() - 120, host="elsewhere", pid=1,
                          heartbeat_at=time.time() - 60, heartbeat_s=5.0, budget_nano=None,
                          runtime_limit_s=None, step_limit=None, checkpoint_every_s=60.0)
    store.close()


@pytest.fixture
def url(tmp_path) -> str:
    u = f"sqlite:///{tmp_path}/cli.db"
    run_budgeted_agent(u)
    return u


def test_list_shows_each_agents_status_steps_spend_and_stop_reason(url):
    result = runner.invoke(app, ["agents", "list", "--store", url])
    assert result.exit_code == 0, result.output
    header, rule, line = result.output.splitlines()
    assert header.split()[:4] == ["id", "status", "run", "steps"]
    assert "budget left" in header and "stop reason" in header
    assert line.split()[:3] == ["spender", "stopped", "1"]
    assert line.rstrip().endswith("budget")


def test_list_json_carries_exact_nano_dollars(url):
    result = runner.invoke(app, ["agents", "list", "--store", url, "--json"])
    assert result.exit_code == 0
    (agent,) = json.loads(result.stdout)
    assert agent["status"] == "stopped" and agent["stop_reason"] == "budget"
    assert agent["budget_nano"] == 200_000
    assert agent["budget_left_nano"] == 200_000 - agent["cost_nano"]
    assert isinstance(agent["cost_nano"], int) and agent["steps"] > 0


def test_show_prints_limits_totals_and_the_deployments_used(url):
    result = runner.invoke(app, ["agents", "show", "spender", "--store", url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "status           stopped" in out
    assert "stop reason      budget: " in out
    assert "$0.000200 (" in out and " left)" in out
    assert "s/small-model" in out


def test_show_json_includes_the_last_checkpoint_and_its_state(url):
    data = json.loads(runner.invoke(app, ["agents", "show", "spender", "--store", url,
                                          "--json"]).stdout)
    cp = data["checkpoint"]
    assert cp["final"] and cp["step"] == data["steps"] and cp["state"] == {}
    assert cp["by_deployment"]["s/small-model"]["cost_nano"] == data["cost_nano"]


def test_a_crashed_agent_is_shown_as_crashed_and_exits_1(url):
    add_crashed_agent(url)
    result = runner.invoke(app, ["agents", "list", "--store", url])
    assert result.exit_code == 1
    ghost = next(line for line in result.output.splitlines() if line.startswith("ghost"))
    assert ghost.split()[1] == "crashed"
    shown = runner.invoke(app, ["agents", "show", "ghost", "--store", url, "--json"])
    assert shown.exit_code == 1
    assert json.loads(shown.stdout)["status"] == "crashed"


def test_an_unknown_id_is_one_line_naming_the_known_ones_and_exit_2(url):
    proc = subprocess.run([sys.executable, "-m", "axtui.cli.main", "agents", "show", "nope",
                           "--store", url], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: no agent 'nope'; agents: spender"


def test_stop_asks_a_running_agent_and_refuses_a_stopped_one(url):
    add_crashed_agent(url)
    refused = runner.invoke(app, ["agents", "stop", "spender", "--store", url])
    assert isinstance(refused.exception, CliError) and refused.exception.code == 2
    assert "'spender' is stopped" in refused.exception.message
    store = open_store(url)
    with store.begin() as conn:  # a live one: fresh heartbeat
        rows.create_agent(conn, "live", now=time.time(), host="elsewhere", pid=1,
                          heartbeat_at=time.time(), heartbeat_s=60.0, budget_nano=None,
                          runtime_limit_s=None, step_limit=None, checkpoint_every_s=60.0)
    asked = runner.invoke(app, ["agents", "stop", "live", "--reason", "deploy", "--store", url])
    assert asked.exit_code == 0, asked.output
    with store.connect() as conn:
        assert rows.agent_row(conn, "live").stop_requested == "deploy"
    store.close()
