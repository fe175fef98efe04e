"""`axtui slo list|show` against a store an evaluator wrote: --json, exit 1 while a page
fires, 2 with one line for bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import resources

from typer.testing import CliRunner

from axtui.alerts.evaluator import AlertEvaluator
from axtui.cli.main import app
from axtui.cli.output import CliError
from axtui.config import load_config
from tests.store.factory import T0

from .conftest import requests
from .test_slo_config_and_alerts import demo

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if isinstance(result.exception, CliError):
        return result.exception.code, result.exception.message
    return result.exit_code, result.output


def _burning(store, clock) -> str:
    store.write_records(requests(T0, 100, failed=30))  # chat: 30% failed at 99.5%
    clock.set(T0 + 120)
    AlertEvaluator.from_config(store, demo(availability=99.0), clock).evaluate()
    return str(store.url)


def test_list_shows_the_budget_left_and_exits_1_while_a_page_fires(store, clock, tmp_path):
    url = _burning(store, clock)
    code, out = cli("slo", "list", "--store", url, "--at", str(T0 + 120))
    assert code == 1
    line = next(x for x in out.splitlines() if "availability" in x)
    assert line.split()[:2] == ["chat", "availability"]
    assert "-5900.0%" in line and "page-fast firing" in line  # 30 bad of 0.5 allowed


def test_show_json_carries_every_window_and_the_causes(store, clock, tmp_path):
    url = _burning(store, clock)
    code, out = cli("slo", "show", "chat", "--store", url, "--json", "--at", str(T0 + 120))
    data = json.loads(out)
    assert code == 1 and data["paging"] is True
    avail = data["objectives"][0]
    assert list(avail["burn"]) == ["5m", "30m", "1h", "6h", "3d"]
    assert avail["burn"]["1h"] == 60.0  # 30% bad over 0.5% allowed
    assert avail["causes"] == [{"what": "server", "n": 30}]
    firing = {a["policy"] for a in avail["alerts"] if a["state"] == "firing"}
    assert firing == {"page-fast", "page-slow", "ticket"}


def test_a_quiet_store_exits_0(store, clock):
    store.write_records(requests(T0, 100))
    code, out = cli("slo", "list", "--store", str(store.url), "--json", "--at", str(T0 + 60))
    assert code == 0 and json.loads(out)["paging"] is False


def test_bad_routes_get_one_line_and_exit_2(store):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for args, says in ((["show", "nope"], "error: unknown route 'nope'"),
                       (["show", "chat-free"], "error: route 'chat-free' has no SLO")):
        p = subprocess.run([sys.executable, "-m", "axtui.cli.main", "slo", *args, "--store",
                            str(store.url)], capture_output=True, text=True,
                           env=env, timeout=60)
        assert p.returncode == 2 and p.stderr.startswith(says) and len(
            p.stderr.strip().splitlines()) == 1


def test_a_store_alone_tells_which_slos_its_evaluator_judged(store, clock, tmp_path):
    """A config without SLOs (another host's) still finds the serving process's SLOs."""
    url = _burning(store, clock)
    text = resources.files("axtui.fixtures").joinpath("demo.toml").read_text("utf-8")
    bare = tmp_path / "bare.toml"
    bare.write_text(re.sub(r"\n\[routes\.[a-z-]+\.slo\]\n(?:[a-z_]+ = .*\n)+", "\n", text))
    assert load_config(bare).slos() == {}
    code, out = cli("slo", "show", "chat-fast", "--config", str(bare), "--store", url,
                    "--json", "--at", str(T0 + 120))
    data = json.loads(out)
    assert data["route"] == "chat-fast" and data["objectives"][0]["goal"] == "99% succeed"
    code, out = cli("slo", "list", "--config", str(bare), "--store", url, "--json",
                    "--at", str(T0 + 120))
    assert code == 1 and [s["route"] for s in json.loads(out)["slos"]] == ["chat", "chat-eu",
                                                                       "chat-fast"]
