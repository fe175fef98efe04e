"""`axtui costs ...` as a user runs it: tables whose lines add up, --json, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from axtui.cli.main import app
from axtui.store import open_store
from tests.costs.conftest import fill, served

runner = CliRunner()
DAY0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
AT = str(DAY0 + 6 * 3600)
USD = 1_000_000_000

CONFIG = """
[store]
url = "{url}"

[providers.sim]
protocol = "sim"
[providers.sim.sim]

[[deployments]]
provider = "sim"
model = "dear"
price = {{ input = "10", output = "30" }}

[[deployments]]
provider = "sim"
model = "cheap"
price = {{ input = "0.1", output = "0.3" }}

[routes.chat]
candidates = ["sim/dear", "sim/cheap"]

[[budgets]]
scope = "global"
period = "day"
limit_usd = "{limit}"
"""


def make(tmp_path: Path, limit: str = "100") -> Path:
    tmp_path.mkdir(exist_ok=True)
    url = f"sqlite:///{tmp_path / 'costs.db'}"
    cfg = tmp_path / "axtui.toml"
    cfg.write_text(CONFIG.format(url=url, limit=limit))
    store = open_store(url)
    fill(store, [served("sim/dear", 1_234_567_891, optimal=123_456_789, at=DAY0 + h * 3600,
                        user="alice", complexity="simple") for h in range(6)]
         + [served("sim/cheap", 3, at=DAY0 + 60, user="bob", complexity="complex")])
    store.close()
    return cfg


def costs(cfg: Path, *args: str):
    return runner.invoke(app, ["costs", *args, "--config", str(cfg), "--at", AT])


def axtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "axtui.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_breakdown_prints_exact_money_and_a_total_that_adds_up(tmp_path):
    r = costs(make(tmp_path), "breakdown", "--by", "user", "--range", "day")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("spend by user, day: 2026-01-01 00:00 UTC")
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[3:]}
    assert rows["alice"] == ["6", "$7.407407346", "100.0%"]
    assert rows["bob"] == ["1", "$0.000000003", "0.0%"]
    assert rows["total"] == ["7", "$7.407407349", "100.0%"]


def test_breakdown_json_carries_integer_nano_dollars(tmp_path):
    r = costs(make(tmp_path), "breakdown", "--by", "provider", "--range", "24h", "--json")
    data = json.loads(r.stdout)
    assert data["range"] == "24h" and data["total_nano"] == 6 * 1_234_567_891 + 3
    assert [(ln["key"], ln["cost_nano"]) for ln in data["lines"]] == [
        ("sim", 6 * 1_234_567_891 + 3)]


def test_optimal_lists_the_overspending_pair(tmp_path):
    r = costs(make(tmp_path), "optimal", "--range", "7d")
    assert r.exit_code == 0, r.output
    assert "chat → sim/dear" in r.stdout
    total = next(ln for ln in r.stdout.splitlines() if ln.startswith("total"))
    assert total.split()[1:5] == ["7", "$7.407407349", "$0.740740737", "$6.666666612"]


def test_projection_json_has_both_periods(tmp_path):
    r = costs(make(tmp_path), "projection", "--json")
    data = json.loads(r.stdout)
    assert [p["period"] for p in data["projections"]] == ["day", "month"]
    assert data["projections"][0]["spent_nano"] == 6 * 1_234_567_891 + 3


def test_summary_shows_budgets_and_a_recommendation(tmp_path):
    r = costs(make(tmp_path), "summary")
    assert r.exit_code == 0, r.output
    assert ["today", "$7.407407349"] in [ln.split() for ln in r.stdout.splitlines()]
    assert "of chat requests are simple" in r.stdout
    assert "global" in r.stdout.split("budgets", 1)[1]


def test_budget_exits_0_while_within_and_1_once_spent(tmp_path):
    assert costs(make(tmp_path / "a"), "budget").exit_code == 0
    spent = costs(make(tmp_path / "b", limit="5"), "budget")
    assert spent.exit_code == 1 and "SPENT" in spent.stdout


@pytest.mark.parametrize("args, message", [
    (["breakdown", "--by", "team"], "unknown --by 'team'"),
    (["breakdown", "--range", "fortnight"], "unknown range 'fortnight'"),
    (["projection", "--scope", "team:x"], "unknown scope 'team:x'"),
    (["projection", "--period", "year"], "unknown --period 'year'"),
    (["summary", "--at", "yesterday"], "--at 'yesterday' is not"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    cfg = make(tmp_path)
    p = axtui("costs", *args, "--config", str(cfg))
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f"error: {p.stderr.strip()[7:]}"]
    assert message in p.stderr


def test_at_takes_an_iso_time_and_an_empty_range_says_so(tmp_path):
    cfg = make(tmp_path)
    r = runner.invoke(app, ["costs", "breakdown", "--config", str(cfg), "--at",
                            "2025-06-01T00:00:00Z"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "no spend in this range"
