"""`axtui drill` end to end: `axtui sim serve` and `axtui serve` as child processes, a few
seconds of openai-SDK load, the report as JSON, and the exit code as CI reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from axtui.drill.report import SECTIONS

SHORT = Path(__file__).with_name("short_drill.toml")


def _drill(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "axtui.cli.main", "drill", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def drilled() -> dict:
    run = _drill(str(SHORT), "--json")
    assert run.returncode == 0, run.stderr + run.stdout
    return json.loads(run.stdout)


def test_a_short_drill_runs_end_to_end_and_its_json_names_each_section(drilled):
    rep = drilled
    assert set(SECTIONS) <= set(rep)
    assert rep["verdict"] == "pass"
    assert rep["load"]["sent"] == 30
    assert rep["success"]["ratio"] == 1.0
    assert rep["success"]["plain"]["requests"] and rep["success"]["stream"]["requests"]
    assert rep["records"] == {**rep["records"], "answered": 30, "stored": 30, "lost": 0,
                              "gateway_exit": 0}
    assert len(rep["timeline"]) == 1  # 2 s of load: one 5 s row


def test_the_drill_times_the_breaker_and_alert_and_counts_failovers_and_upstream_calls(
        drilled):
    [fault] = drilled["faults"]
    assert fault["upstream"] == "alpha" and fault["start_s"] == pytest.approx(1.0, abs=0.5)
    assert fault["breaker_open_after_s"] is not None
    assert fault["alert_firing_after_s"] is not None and fault["alert_rules"]
    fo = drilled["failovers"]
    assert fo["requests"] >= 1 and fo["attempts"] == 30 + fo["requests"]
    assert drilled["upstream"]["calls"] == fo["attempts"]  # counted by the sim itself


def test_an_impossible_target_makes_the_drill_exit_1_naming_it(tmp_path):
    text = SHORT.read_text().replace("max_records_lost = 0",
                                     "max_records_lost = 0\nmax_upstream_calls_per_s = 0.001")
    scenario = tmp_path / "impossible.toml"
    scenario.write_text(text)
    run = _drill(str(scenario))
    assert run.returncode == 1, run.stderr + run.stdout
    assert "MISS max_upstream_calls_per_s = 0.001" in run.stdout
    assert run.stdout.rstrip().endswith("verdict: fail")


@pytest.mark.parametrize("content, says", [
    ("[scenario]\nname = 'x'\n[[upstreams]]\nname = 'a'\nlatency_ms = -1\n",
     "upstreams[0].latency_ms"),
    ("not toml [", "not valid TOML"),
])
def test_a_bad_scenario_file_is_one_line_and_exit_2(tmp_path, content, says):
    bad = tmp_path / "bad.toml"
    bad.write_text(content)
    run = _drill(str(bad))
    assert run.returncode == 2
    assert says in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr
