"""`axtui monitor metrics`: a named metric over a range as a table, JSON or a chart; bad
input is one line and exit code 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from axtui.cli.main import app
from axtui.records import ErrorKind
from axtui.store import open_store
from tests.store.factory import T0, attempt, record

runner = CliRunner()
UNTIL = str(T0 + 3600)  # the hour of traffic below, as --until


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    """An hour of chat traffic: one request a minute, every fifth failing over to b."""
    url = f"sqlite:///{tmp_path_factory.mktemp('monitor') / 'axtui.db'}"
    with open_store(url) as store:
        store.write_records([
            record(started_at=T0 + 60 * m, attempts=(
                [attempt("acme/a", error_kind=ErrorKind.server), attempt("acme/b")]
                if m % 5 == 0 else [attempt("acme/a", cost_nano=1_000_000)]))
            for m in range(60)
        ])
    return url


def monitor(url, *args):
    return runner.invoke(app, ["monitor", "metrics", *args, "--store", url, "--until", UNTIL])


def test_json_gives_the_value_and_one_point_per_step(url):
    result = monitor(url, "failover_rate", "--range", "1h", "--step", "15m", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["value"] == pytest.approx(12 / 60)
    assert [p["value"] for p in out["points"]] == [pytest.approx(0.2)] * 4
    assert out["step_s"] == 900 and out["scope"] == "global" and out["unit"] == "ratio"


def test_the_table_shows_each_step_in_the_metrics_unit(url):
    result = monitor(url, "error_rate", "--scope", "deployment:acme/a", "--range", "1h",
                     "--step", "30m")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "error_rate deployment:acme/a over 1h: 20.0%"
    assert [line.split() for line in lines[-2:]] == [["01-01", "00:00", "20.0%"],
                                                     ["01-01", "00:30", "20.0%"]]


def test_cost_per_hour_is_shown_in_dollars(url):
    result = monitor(url, "cost_per_hour", "--scope", "route:chat", "--range", "1h")
    # 48 requests at $0.001 and 12 failed over to b at $0.000005, in one hour
    assert "over 1h: $0.0481/h" in result.stdout


def test_a_chart_draws_the_series_in_the_terminal(url):
    result = monitor(url, "request_rate", "--range", "1h", "--format", "chart")
    assert result.exit_code == 0, result.output
    assert "request_rate global over 1h: 0.02/s" in result.stdout
    # the frame, the series as braille dots, and time labels on the x axis (which labels
    # plotext keeps when they crowd varies, so none in particular is asserted)
    assert "┌" in result.stdout and "┘" in result.stdout
    assert any("\u2800" <= ch <= "\u28ff" for ch in result.stdout)
    assert re.search(r"01-01 00:[0-5]0", result.stdout)


def test_no_data_is_said_not_shown_as_zero(url):
    result = runner.invoke(app, ["monitor", "metrics", "p95", "--store", url, "--until",
                                 str(T0 - 86400), "--range", "1h", "--format", "chart"])
    assert result.exit_code == 0
    assert "p95 global over 1h: no data" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["p42"], "unknown metric 'p42'"),
    (["p95", "--scope", "planet:mars"], "bad scope 'planet:mars'"),
    (["p95", "--range", "7x"], "bad range '7x'"),
    (["p95", "--step", "0m"], "bad step '0m'"),
    (["p95", "--format", "pie"], "bad --format 'pie'"),
    (["rejected_rate", "--scope", "deployment:acme/a"], "rejected_rate has no deployment"),
    (["p95", "--scope", "route:chta"], "unknown route 'chta'"),
    (["p95", "--scope", "deployment:acme/z"], "unknown deployment 'acme/z'"),
    (["p95", "--scope", "provider:acne"], "unknown provider 'acne'"),
])
def test_bad_input_is_one_line_and_exit_code_2(url, args, message):
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "monitor", "metrics", *args,
                           "--store", url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {message}") and done.stderr.count("\n") == 1


def test_a_quiet_scope_the_store_has_seen_says_no_data(url):
    result = runner.invoke(app, ["monitor", "metrics", "p95", "--scope", "deployment:acme/b",
                                 "--store", url, "--until", str(T0 - 86400), "--range", "1h"])
    assert result.exit_code == 0, result.output
    assert "p95 deployment:acme/b over 1h: no data" in result.stdout


def test_until_latest_ends_the_range_at_the_newest_record(url):
    result = runner.invoke(app, ["monitor", "metrics", "failover_rate", "--store", url,
                                 "--range", "1h", "--until", "latest", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["until"] == pytest.approx(T0 + 59 * 60, abs=1)
    assert out["value"] == pytest.approx(12 / 60)
