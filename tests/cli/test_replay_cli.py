"""`axtui replay` as a user runs it: byte-identical --json for the same trace, config and
seed; exit 1 when the replay fired a critical alert, 0 when not, 2 with one line on bad
input."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.traces.replay_helpers import cut

REPO = Path(__file__).resolve().parents[2]


def axtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "axtui.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def outage(tmp_path_factory) -> Path:
    return cut("provider-outage", 1800, tmp_path_factory.mktemp("t") / "outage.jsonl.gz")


def test_a_faithful_replay_gives_byte_identical_json_run_after_run(tmp_path):
    trace = cut("provider-outage", 1500, tmp_path / "outage.jsonl.gz")
    first = axtui("replay", str(trace), "--json", cwd=tmp_path)
    second = axtui("replay", str(trace), "--json", cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # the outage fires the critical alert
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["summary"]["requests"] == 1500


def test_the_same_trace_config_and_seed_give_byte_identical_json(tmp_path):
    trace = cut("rate-limit-storm", 500, tmp_path / "storm.jsonl.gz")
    args = ("replay", str(trace), "--mode", "counterfactual", "--set", "flash_lite_chat=50",
            "--seed", "5", "--json")
    first, second = axtui(*args, cwd=tmp_path), axtui(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["counterfactual"]["summary"]["requests"] == 500


def test_json_exits_1_when_the_replay_fired_a_critical_alert(outage, tmp_path):
    done = axtui("replay", str(outage), "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["alerts"]["critical"] == 1


def test_json_exits_0_when_nothing_critical_fired(tmp_path):
    trace = cut("normal-day", 400, tmp_path / "quiet.jsonl.gz")
    done = axtui("replay", str(trace), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_table_shows_the_timeline_and_the_side_by_side(outage, tmp_path):
    done = axtui("replay", str(outage), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "breaker openai/gpt-4o-mini: closed → open" in done.stdout
    assert "alert error-rate (critical): pending → firing" in done.stdout
    done = axtui("replay", str(outage), "--mode", "counterfactual", "--drain",
                 "openai/gpt-4o-mini", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "recorded  counterfactual" in done.stdout
    assert "difference: p95 " in done.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("nothing-here.jsonl",), "no trace 'nothing-here.jsonl'"),
    (("SCHEMA9", "--json"), "trace schema 9 is not supported"),
    (("normal-day", "--mode", "sideways"), "--mode 'sideways'"),
    (("normal-day", "--mode", "counterfactual", "--set", "nope=10"), "unknown flag 'nope'"),
    (("normal-day", "--mode", "counterfactual", "--set", "flash_lite_chat=150"),
     "--set 'flash_lite_chat=150'"),
    (("normal-day", "--mode", "counterfactual", "--drain", "x/y"), "unknown deployment 'x/y'"),
    (("normal-day", "--speed", "fast"), "--speed 'fast'"),
    (("normal-day", "--drain", "openai/gpt-4o"), "use them with --mode counterfactual"),
    (("ALLBAD", "--json"), "no records to replay (2 bad lines; line 1: malformed JSON"),
    (("normal-day", "--tui", "--json"), "choose one"),
])
def test_bad_input_is_one_line_and_exit_2(args, says, tmp_path):
    (tmp_path / "SCHEMA9").write_bytes(gzip.compress(b'{"axtui_trace": 9}\n'))
    (tmp_path / "ALLBAD").write_bytes(b'garbage\n{"id": 1}\n')
    done = axtui("replay", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
