"""The headless `axtui` commands as a user runs them: output, exit codes, and what lands in
the store. Exit codes are checked through `run()` in a subprocess, the way the console
script calls it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from axtui.cli.main import app
from axtui.records import RequestRecord
from axtui.store.db import open_store

DEMO_TOML = str(resources.files("axtui.fixtures").joinpath("demo.toml"))

runner = CliRunner()


def axtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "axtui.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[str, dict]:
    """One 60-request demo into a fresh store: (store url, its --json summary)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo')}/t.db"
    result = runner.invoke(app, ["demo", "--requests", "60", "--json", "--store", url])
    assert result.exit_code == 0, result.output
    return url, json.loads(result.stdout)


# --------------------------------------------------------------------------- demo


def test_demo_json_summarises_every_request_by_deployment(demo_run):
    url, summary = demo_run
    assert summary["requests"] == 60
    assert summary["store"] == url
    deployments = {d["deployment"]: d for d in summary["deployments"]}
    assert deployments and set(deployments) <= {d for d in _demo_deployments()}
    for d in deployments.values():
        assert d["attempts"] >= d["ok"] >= 0
        assert 0.0 <= d["success_rate"] <= 1.0
    assert sum(d["attempts"] for d in deployments.values()) >= 60


def test_demo_records_every_request_in_the_store(demo_run):
    url, summary = demo_run
    records = open_store(url).recent_records(limit=1000)
    assert len(records) == 60
    assert summary["recorder"]["written"] == 60
    assert sum(r.cost_nano for r in records) == summary["cost_nano"]


def _demo_deployments() -> list[str]:
    from axtui.config import load_config

    return [d.id for d in load_config().deployments]


# --------------------------------------------------------------------------- config check


def test_config_check_accepts_the_demo_config(tmp_path):
    done = axtui("config", "check", DEMO_TOML, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ok — 5 providers, 10 deployments, 9 routes" in done.stdout


def test_config_check_json_lists_deployments_with_prices():
    result = runner.invoke(app, ["config", "check", DEMO_TOML, "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    mini = next(d for d in data["deployments"] if d["deployment"] == "openai/gpt-4o-mini")
    assert mini["usd_per_mtok"] == {"input": "0.15", "output": "0.6"}
    assert data["routes"]["chat"]["strategy"] == "cost"


def test_config_check_on_a_broken_file_prints_one_line_and_exits_2(tmp_path):
    bad = tmp_path / "axtui.toml"
    bad.write_text('[providers.a]\nprotocol = "openai"\napi_key = "sk-live-123"\n')
    done = axtui("config", "check", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {bad}: providers.a.api_key: ")
    assert "sk-live-123" not in done.stderr
    assert "Traceback" not in done.stderr


def test_config_check_names_every_problem_on_its_own_line(tmp_path):
    bad = tmp_path / "axtui.toml"
    bad.write_text(Path(DEMO_TOML).read_text().replace('strategy = "cost"',
                                                       'strategy = "fastest"\ncolour = 1'))
    done = axtui("config", "check", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert [ln.split(": ")[2] for ln in lines] == ["routes.chat.strategy", "routes.chat.colour"]


def test_config_check_on_a_missing_file_exits_2(tmp_path):
    done = axtui("config", "check", "nope.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: nope.toml: file not found"


# --------------------------------------------------------------------------- route


def test_route_prints_an_answer_and_the_path_it_took(tmp_path):
    done = axtui("route", "hi", "--route", "chat", "--store", f"sqlite:///{tmp_path}/t.db",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()  # the simulated answer
    assert done.stderr.startswith("[chat] ")
    assert " ok · " in done.stderr
    assert len(open_store(f"sqlite:///{tmp_path}/t.db").recent_records(limit=10)) == 1


def test_route_to_an_unknown_route_exits_2_naming_the_routes(tmp_path):
    done = axtui("route", "hi", "--route", "nope", "--no-record", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: unknown route 'nope'; routes: chat, "
                                   "chat-eu, chat-faq, chat-fast, chat-free, chat-large, "
                                   "chat-long, claude, transcribe")


def test_route_that_cannot_be_served_exits_1_with_the_error(tmp_path):
    cfg = tmp_path / "down.toml"
    cfg.write_text(
        '[providers.down]\nprotocol = "sim"\n'
        "[providers.down.sim]\nlatency_p50_ms = 5\nlatency_p95_ms = 10\nttft_ms = 1\n"
        "errors = { server = 1.0 }\n"
        '[[deployments]]\nprovider = "down"\nmodel = "m"\n'
        '[routes.chat]\ncandidates = ["down/m"]\nmax_attempts = 1\n'
    )
    done = axtui("route", "hi", "--config", str(cfg), "--no-record", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "down/m server" in done.stderr
    assert "error (503)" in done.stderr  # no upstream answered: unavailable


def test_route_json_holds_the_answer_and_its_record(tmp_path):
    result = runner.invoke(app, ["route", "hi", "--route", "chat-fast", "--json",
                                 "--no-record"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    record = RequestRecord.model_validate(data["record"])
    assert record.ok and record.route == "chat-fast"
    assert data["content"]


# --------------------------------------------------------------------------- trace


def test_trace_json_prints_records_that_parse_oldest_first(demo_run):
    url, _ = demo_run
    result = runner.invoke(app, ["trace", "--json", "--limit", "25", "--store", url])
    assert result.exit_code == 0
    records = [RequestRecord.model_validate_json(line) for line in result.stdout.splitlines()]
    newest = sorted(open_store(url).recent_records(limit=1000), key=lambda r: r.started_at)
    assert [r.id for r in records] == [r.id for r in newest[-25:]]


def test_trace_filters_by_route(demo_run):
    url, _ = demo_run
    result = runner.invoke(app, ["trace", "--json", "--route", "chat", "--store", url])
    routes = {RequestRecord.model_validate_json(ln).route for ln in result.stdout.splitlines()}
    assert routes == {"chat"}


# --------------------------------------------------------------------------- providers


def test_providers_list_shows_all_deployments_with_health_for_those_used(demo_run):
    url, _ = demo_run
    result = runner.invoke(app, ["providers", "list", "--json", "--store", url])
    assert result.exit_code == 0, result.output
    rows = {r["deployment"]: r for r in json.loads(result.stdout)["deployments"]}
    assert list(rows) == _demo_deployments()
    used = Counter(a.deployment for r in open_store(url).recent_records(limit=1000)
                   for a in r.attempts)
    for name, row in rows.items():
        if used[name]:
            assert row["health"]["attempts"] == used[name], name
        else:
            assert row["health"] is None, name


def test_providers_list_table_marks_unused_deployments_idle(demo_run):
    url, _ = demo_run
    result = runner.invoke(app, ["providers", "list", "--store", url])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["deployment", "state"]
    assert sum(1 for ln in lines if ln.startswith(tuple(_demo_deployments()))) == len(
        _demo_deployments())


def test_providers_info_on_a_provider_shows_each_of_its_deployments(demo_run):
    url, _ = demo_run
    result = runner.invoke(app, ["providers", "info", "gemini", "--json", "--store", url])
    assert result.exit_code == 0
    names = [r["deployment"] for r in json.loads(result.stdout)["deployments"]]
    assert names == ["gemini/gemini-2.0-flash-lite", "gemini/gemini-2.5-flash"]


def test_providers_info_on_an_unknown_name_exits_2(tmp_path):
    done = axtui("providers", "info", "nosuch", "--store", f"sqlite:///{tmp_path}/t.db",
                 cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown provider or deployment 'nosuch'; known: ")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    ("demo", "--requests", "0"),
    ("demo", "--requests", "abc"),
    ("route",),
    ("no-such-command",),
    ("trace", "--limit", "-5"),
])
def test_bad_usage_is_a_short_message_and_exit_2_never_a_traceback(tmp_path, args):
    result = axtui(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error:" in result.stderr


# --------------------------------------------------------------------------- store hygiene
@pytest.mark.parametrize("command", [["trace", "-n", "3"], ["flags", "list"],
                                     ["alerts", "list"]])
def test_a_command_that_reads_the_store_leaves_no_wal_files_beside_it(tmp_path, command):
    db = tmp_path / "s.db"
    made = axtui("demo", "--requests", "20", "--store", f"sqlite:///{db}", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    got = axtui(*command, "--store", f"sqlite:///{db}", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


def test_a_command_invoked_in_process_closes_its_store_when_it_ends(tmp_path):
    db = tmp_path / "s.db"
    assert runner.invoke(app, ["demo", "--requests", "20", "--store",
                               f"sqlite:///{db}"]).exit_code == 0
    got = runner.invoke(app, ["flags", "list", "--store", f"sqlite:///{db}"])
    assert got.exit_code == 0, got.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]
