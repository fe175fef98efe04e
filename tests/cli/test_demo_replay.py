"""`axtui demo --replay [TRACE]`: the console in REPLAY mode on a bundled trace (the
provider outage unless told), faithful and read-only; bad input is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from axtui.cli.main import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def opened(monkeypatch) -> list[dict]:
    """What the console would have been opened on (no terminal in a test)."""
    calls: list[dict] = []

    def replay_console(trace, replay_args, config, speed, readonly):
        calls.append({"trace": trace, "args": replay_args, "speed": speed,
                      "readonly": readonly})

    monkeypatch.setattr("axtui.cli.console.replay_console", replay_console)
    return calls


def test_demo_replay_opens_the_console_on_the_provider_outage_at_60x(opened):
    done = CliRunner().invoke(app, ["demo", "--replay"])
    assert done.exit_code == 0, done.output
    (call,) = opened
    assert call["trace"].endswith("provider-outage.jsonl.gz")
    assert call["speed"] == 60.0
    assert call["readonly"] is True  # faithful: no engine for the console's actions
    assert call["args"][:2] == ["--mode", "faithful"]


def test_demo_replay_plays_the_trace_it_is_given(opened):
    done = CliRunner().invoke(app, ["demo", "--replay", "rate-limit-storm"])
    assert done.exit_code == 0, done.output
    assert opened[0]["trace"].endswith("rate-limit-storm.jsonl.gz")


@pytest.mark.parametrize(("args", "says"), [
    (["demo", "--replay", "no-such-trace"], "no trace 'no-such-trace'"),
    (["demo", "normal-day"], "a trace is for `axtui demo --replay TRACE`"),
    (["demo", "--replay", "--json"], "not with --json or --live"),
])
def test_demo_replay_refuses_bad_input_with_one_line(tmp_path, args, says):
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", *args], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
