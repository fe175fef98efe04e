"""`axtui monitor status`: the snapshot as text or JSON, with exit codes a script can use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from axtui.cli.main import app
from axtui.engine.control import drain
from axtui.store.db import open_store

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('status')}/t.db"
    result = runner.invoke(app, ["demo", "--requests", "60", "--store", url])
    assert result.exit_code == 0, result.output
    return url


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "axtui.cli.main", "monitor", "status", *args],
                          capture_output=True, text=True, timeout=60)


def test_status_json_holds_every_configured_deployment_and_the_pulse(demo_store):
    result = runner.invoke(app, ["monitor", "status", "--store", demo_store, "--window", "24h",
                                 "--json"])
    snap = json.loads(result.stdout)
    assert snap["pulse"]["requests"] == 60
    # the demo's mistral outage leaves chat-eu's SLO burn alerts firing: exit 1 says so
    assert snap["pulse"]["firing_alerts"] > 0 and result.exit_code == 1, result.output
    assert "mistral/mistral-small-latest" in {d["name"] for d in snap["deployments"]}


def test_status_text_shows_a_drain_with_its_reason(demo_store):
    store = open_store(demo_store)
    try:
        drain(store, "groq/llama-3.1-8b-instant", "flaky", "oncall")
    finally:
        store.close()
    result = runner.invoke(app, ["monitor", "status", "--store", demo_store])
    assert result.exit_code == 1, result.output  # alerts fire in the demo store (see above)
    line = next(x for x in result.stdout.splitlines() if "groq/llama-3.1-8b-instant" in x
                and "DRAINED" in x)
    assert '"flaky" by oncall' in line


@pytest.mark.parametrize("window", ["soon", "0m", "-5m", "30s", "2d"])
def test_a_bad_window_is_one_line_and_exit_2(demo_store, window):
    result = status("--store", demo_store, "--window", window)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --window:") and result.stderr.count("\n") == 1


def test_watch_prints_count_snapshots_then_stops(demo_store):
    result = runner.invoke(app, ["monitor", "status", "--store", demo_store, "--watch",
                                 "--interval", "0.2", "--count", "2", "--json"])
    assert result.exit_code == 1, result.output  # alerts fire in the demo store (see above)
    assert result.stdout.count('"pulse"') == 2


@pytest.mark.parametrize("command", [
    ["monitor", "status"], ["monitor", "metrics", "p95"], ["alerts", "list"],
    ["costs", "summary"], ["costs", "breakdown"],
])
def test_a_read_command_on_a_store_path_that_is_not_there_says_so(tmp_path, command):
    missing = tmp_path / "typo" / "axtui.db"
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", *command, "--store",
                           f"sqlite:///{missing}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"error: no store at {missing}: axtui demo or axtui serve writes " \
                          "one (--store names another)\n"
    assert not missing.parent.exists()  # nothing created behind the user's back
