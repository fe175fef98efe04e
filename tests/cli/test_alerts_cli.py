"""`axtui alerts` as an on-call engineer uses it against a store an evaluator wrote: list,
show, ack, silence, rules, test; --json everywhere; exit 1 when something fires, 2 with one
line for bad input. Exit codes are checked through `run()` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from axtui.alerts.evaluator import AlertEvaluator
from axtui.cli.main import app
from axtui.cli.output import CliError
from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.records import ErrorKind
from axtui.store.db import open_store
from tests.store.factory import attempt, record

runner = CliRunner()
MISTRAL = "mistral/mistral-small-latest"


def axtui(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "axtui.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if isinstance(result.exception, CliError):  # run() prints it as one line, exit 2
        return result.exception.code, result.exception.message
    return result.exit_code, result.output


@pytest.fixture
def firing_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/a.db"
    now = time.time()
    st = open_store(url)
    st.write_records([record(started_at=now - 40, route="chat-eu", attempts=[attempt(
        MISTRAL, started_at=now - 40, error_kind=ErrorKind.server)]) for _ in range(10)])
    clock = VirtualClock(now - 35)
    ev = AlertEvaluator.from_config(st, load_config(), clock)
    ev.evaluate()  # pending
    clock.set(now)
    ev.evaluate()  # held 35 s of its 30 s: firing
    st.close()
    return url


def test_list_firing_exits_1_and_names_what_fires(firing_url, tmp_path):
    done = axtui("alerts", "list", "--firing", "--store", firing_url, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "firing" in done.stdout and "mistral-errors" in done.stdout
    assert "100.0% > 50.0%" in done.stdout


def test_list_firing_exits_0_when_nothing_fires(tmp_path):
    open_store(f"sqlite:///{tmp_path}/e.db").close()  # a store nothing has fired in
    done = axtui("alerts", "list", "--firing", "--store", f"sqlite:///{tmp_path}/e.db",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no firing alerts"


def test_bad_input_is_one_line_and_exit_2(firing_url, tmp_path):
    for args, message in [
        (("alerts", "show", "nope"), "error: unknown alert 'nope'; axtui alerts rules lists "
                                      "them"),
        (("alerts", "silence", "--match", "team", "--for", "1h", "--reason", "x"),
         "error: bad matcher 'team': use key=value, e.g. severity=critical or "
         "alertname=mistral-*"),
        (("alerts", "silence", "mistral-errors", "--for", "5x", "--reason", "x"),
         "error: not a duration: '5x' (use e.g. 90s, 15m, 1h, 7d)"),
        (("alerts", "rules", "create", "x", "--metric", "error_rte", "--threshold", "1"),
         "error: alert rule: metric: unknown metric 'error_rte' (one of error_rate, "
         "success_rate, p50, p95, p99, ttft_p95, request_rate, cost_per_hour, "
         "spend_vs_budget, breaker_open, headroom_near_miss_rate, failover_rate, "
         "rejected_rate, slo_availability_burn, slo_latency_burn or free_tier_share)"),
    ]:
        done = axtui(*args, "--store", firing_url, cwd=tmp_path)
        assert (done.returncode, done.stderr.strip()) == (2, message), args


def test_list_json_has_state_value_threshold_and_since(firing_url):
    code, out = cli("alerts", "list", "--json", "--store", firing_url)
    assert code == 0
    alerts = {a["name"]: a for a in json.loads(out)["alerts"]}
    m = alerts["mistral-errors"]
    assert (m["state"], m["value"], m["threshold"], m["severity"]) == (
        "firing", 1.0, 0.5, "critical")
    assert m["since"] > 0 and m["ack"] is None


def test_show_gives_the_rule_the_state_and_its_events(firing_url):
    code, out = cli("alerts", "show", "mistral-errors", "--store", firing_url)
    assert code == 0
    assert "error_rate of deployment:mistral/mistral-small-latest > 0.5 over 1m for 30s" in out
    assert "runbook     axtui deployments drain" in out
    assert "▲ firing since" in out and "value 100.0%" in out
    assert "alert.firing" in out and "pending → firing" in out
    assert "0 sent, 0 failed" in out


def test_an_alert_that_is_not_active_cannot_be_acknowledged(firing_url):
    code, out = cli("alerts", "ack", "mistral-breaker", "--store", firing_url)
    assert code == 2 and "'mistral-breaker' is inactive: only a pending, firing or" in out


def test_ack_shows_who_and_unack_of_an_unacked_alert_is_refused(firing_url):
    code, _ = cli("alerts", "ack", "mistral-errors", "--by", "alice", "--note", "on it",
                  "--store", firing_url)
    assert code == 0
    code, out = cli("alerts", "list", "--json", "--store", firing_url)
    (m,) = [a for a in json.loads(out)["alerts"] if a["name"] == "mistral-errors"]
    assert (m["state"], m["ack"]["by"], m["ack"]["note"]) == ("firing", "alice", "on it")
    assert cli("alerts", "unack", "mistral-errors", "--store", firing_url)[0] == 0
    code, out = cli("alerts", "unack", "mistral-errors", "--store", firing_url)
    assert code == 2 and "is not acknowledged" in out


def test_silence_then_unsilence(firing_url):
    code, out = cli("alerts", "silence", "mistral-errors", "--for", "2h", "--reason",
                    "vendor incident", "--by", "bob", "--json", "--store", firing_url)
    assert code == 0
    s = json.loads(out)["silence"]
    assert s["matchers"] == {"alertname": "mistral-errors"} and s["reason"] == "vendor incident"
    assert s["ends_at"] - s["starts_at"] == 7200
    code, out = cli("alerts", "list", "--json", "--store", firing_url)
    (m,) = [a for a in json.loads(out)["alerts"] if a["name"] == "mistral-errors"]
    assert m["silenced_by"]["id"] == s["id"]
    assert cli("alerts", "unsilence", s["id"], "--store", firing_url)[0] == 0
    code, out = cli("alerts", "list", "--json", "--store", firing_url)
    (m,) = [a for a in json.loads(out)["alerts"] if a["name"] == "mistral-errors"]
    assert m["silenced_by"] is None


def test_rules_create_list_and_delete(tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    code, out = cli("alerts", "rules", "create", "slow-chat", "--metric", "p95", "--scope",
                    "route:chat", "--threshold", "2500", "--window", "10m", "--for", "5m",
                    "--label", "team=web", "--summary", "chat is slow", "--store", url)
    assert code == 0, out
    code, out = cli("alerts", "rules", "--json", "--store", url)
    rules = {r["name"]: r for r in json.loads(out)["rules"]}
    assert rules["slow-chat"]["origin"] == "store"
    assert (rules["slow-chat"]["window"], rules["slow-chat"]["for"]) == (600.0, 300.0)
    assert rules["slow-chat"]["labels"] == {"team": "web"}
    assert "mistral-errors" in rules and "budget:global:day:100" in rules
    code, out = cli("alerts", "rules", "create", "slow-chat", "--metric", "p95",
                    "--threshold", "1", "--store", url)
    assert code == 2 and "already exists" in out
    assert cli("alerts", "rules", "delete", "slow-chat", "--store", url)[0] == 0
    code, out = cli("alerts", "rules", "delete", "mistral-errors", "--store", url)
    assert code == 2 and "no alert rule 'mistral-errors' in the store" in out


def test_test_evaluates_one_rule_now_and_changes_nothing(firing_url):
    st = open_store(firing_url)
    before = (len(st.events(limit=1000)), st.control_version())
    code, out = cli("alerts", "test", "mistral-errors", "--json", "--store", firing_url)
    assert code == 0
    result = json.loads(out)
    assert (result["value"], result["holds"], result["state"], result["would_be"]) == (
        1.0, True, "firing", "firing")
    code, out = cli("alerts", "test", "chat-p95", "--store", firing_url)
    assert "p95 of route:chat = no data > 3.00s: no data" in out
    assert "state nodata → would be nodata" in out
    assert (len(st.events(limit=1000)), st.control_version()) == before
    st.close()


def test_config_check_lists_alert_rules_and_webhooks_without_their_secret(tmp_path):
    from importlib import resources

    demo = resources.files("axtui.fixtures").joinpath("demo.toml").read_text()
    cfg = tmp_path / "a.toml"
    cfg.write_text(demo.replace(
        "# webhooks = [", 'webhooks = [{ url = "https://hooks.example.com/T0/B0/s3cr3t" }]\n#'))
    code, out = cli("config", "check", str(cfg), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["webhooks"] == [{"name": "webhook", "url": "https://hooks.example.com/…",
                                 "url_env": None, "format": "json"}]
    assert "s3cr3t" not in out
    assert {"name": "mistral-errors", "severity": "critical",
            "condition": "error_rate of deployment:mistral/mistral-small-latest > 0.5 over 1m "
                         "for 30s"} in data["alerts"]
    code, out = cli("config", "check", str(cfg))
    assert "4 alert rules" in out and "webhook webhook: https://hooks.example.com/…" in out
    assert "s3cr3t" not in out


def test_a_wildcard_rule_is_acked_per_alert_and_tested_per_alert(firing_url):
    code, out = cli("alerts", "rules", "create", "dep-errors", "--metric", "error_rate",
                    "--scope", "deployment:*", "--threshold", "0.5", "--store", firing_url)
    assert code == 0, out
    code, out = cli("alerts", "ack", "dep-errors", "--store", firing_url)
    assert code == 2 and "is a wildcard rule; name one of its alerts" in out
    code, out = cli("alerts", "test", "dep-errors", "--json", "--store", firing_url)
    tested = {a["rule"]["name"]: a for a in json.loads(out)["alerts"]}
    assert len(tested) == len(load_config().deployments)
    mistral = tested[f"dep-errors[{MISTRAL}]"]
    assert (mistral["value"], mistral["holds"]) == (1.0, True)
    with open_store(firing_url) as st:  # the host's next evaluation: the new rule fires
        AlertEvaluator.from_config(st, load_config(), VirtualClock(time.time())).evaluate()
    code, _ = cli("alerts", "ack", f"dep-errors[{MISTRAL}]", "--store", firing_url)
    assert code == 0
