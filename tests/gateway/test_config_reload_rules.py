"""What follows a config reload beyond routing: the alert evaluator's rules (a route's SLO
burn rules, the budgets' rules, [[alerts]]) and the route label of the request metrics,
counted by the recorder's child process. `[alerting]` stays until a restart, named."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from axtui.alerts.state import read_alert_statuses
from axtui.cli.main import app
from axtui.drill.gateway_config import to_toml
from axtui.store.db import open_store
from tests.fakes.openai_upstream import OpenAIUpstream

from .fleet import wait_for
from .harness import ADMIN_ENV, LoopThread, Served, deployment, openai_provider
from .test_config_reload import ADMIN, _start

INTERVAL_S = 0.2  # [alerting] interval_s: how soon a reload's rules are evaluated


def table(url: str, store_url: str, **extra: Any) -> dict[str, Any]:
    data = {
        "store": {"url": store_url, "flush_interval_s": 0.05, "recorder": "process"},
        "providers": {"a": openai_provider(url)},
        "deployments": [deployment("a", "gpt-a", region="eu")],
        "routes": {"chat": {"candidates": ["a/gpt-a"]}},
        "gateway": {"admin_token_env": ADMIN_ENV},
        "alerting": {"interval_s": INTERVAL_S},
    }
    for key, value in extra.items():
        data[key] = value
    return data


@dataclass
class Env:
    served: Served
    path: Path
    url: str  # the upstream's
    store_url: str

    def reload_with(self, **extra: Any) -> dict[str, Any]:
        self.path.write_text(to_toml(table(self.url, self.store_url, **extra)))
        r = httpx.post(f"{self.served.url}/admin/config/reload", json={"by": "test"},
                       headers=ADMIN, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def ask(self, route: str = "chat") -> None:
        openai.OpenAI(base_url=self.served.base_url, api_key="none", max_retries=0,
                      timeout=15).chat.completions.create(
            model=route, messages=[{"role": "user", "content": "hi"}], user="u1")

    def alert(self, name: str) -> Any:
        """The alert's state as the serving process's evaluator last wrote it (or None)."""
        store = open_store(self.store_url)
        try:
            with store.connect() as conn:
                found = [a for a in read_alert_statuses(conn, 0.0) if a.name == name]
        finally:
            store.close()
        return found[0] if found else None


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("reload-rules")
    loop = LoopThread()
    up = OpenAIUpstream(reply_text="hello")
    loop.run(up.start())
    store_url = f"sqlite:///{tmp}/gw.db"
    path = tmp / "axtui.toml"
    path.write_text(to_toml(table(up.base_url, store_url)))  # no rule at all: no alerts job
    served = loop.run(_start(path, store_url))
    try:
        yield Env(served, path, up.base_url, store_url)
    finally:
        served.server.should_exit = True
        loop.run(asyncio.wait_for(served.task, 30))
        loop.run(up.close())
        loop.close()


def test_a_reload_that_gives_a_route_an_slo_has_its_burn_rules_evaluated(env: Env,
                                                                         tmp_path: Path):
    without = tmp_path / "without-slo.toml"  # what `axtui slo` reads: no SLO of its own
    without.write_text(to_toml(table(env.url, env.store_url)))
    env.ask()
    result = env.reload_with(routes={"chat": {"candidates": ["a/gpt-a"],
                                              "slo": {"availability": 99.9}}})
    assert result["diff"]["routes"]["changed"]["chat"]["slo"]["new"]["availability"] == 99.9

    def listed() -> list[dict]:
        out = CliRunner().invoke(app, ["slo", "list", "--json", "--config", str(without),
                                       "--store", env.store_url])
        return json.loads(out.output)["slos"]

    slos = wait_for(listed, 10, "the SLO's burn alerts in the store")  # the evaluator's
    (chat,) = slos
    assert chat["route"] == "chat"
    alerts = chat["objectives"][0]["alerts"]
    assert [a["name"] for a in alerts] == ["slo:chat:availability:page-fast",
                                           "slo:chat:availability:page-slow",
                                           "slo:chat:availability:ticket"]
    assert all(a["state"] == "inactive" and a["value"] == 0.0 for a in alerts)  # judged


def test_a_reload_that_changes_a_budget_has_its_rule_judge_by_the_new_limit(env: Env):
    env.ask()
    env.reload_with(budgets=[{"scope": "global", "limit_usd": "1", "thresholds": [50]}])
    name = "budget:global:day:50"
    before = wait_for(lambda: (a := env.alert(name)) and a.value and a, 10, "the budget rule")
    assert "of $1" in before.summary
    env.reload_with(budgets=[{"scope": "global", "limit_usd": "0.25", "thresholds": [50]}])
    after = wait_for(lambda: (a := env.alert(name)) and "$0.25" in a.summary and a, 10,
                     "the budget rule at the new limit")
    assert after.value == pytest.approx(before.value * 4, rel=0.01)  # the same spend


def test_a_route_a_reload_adds_has_its_own_label_in_metrics(env: Env):
    env.reload_with(routes={"chat": {"candidates": ["a/gpt-a"]},
                            "chat-new": {"candidates": ["a/gpt-a"]}})
    env.ask("chat-new")

    def count() -> float:
        text = httpx.get(f"{env.served.url}/metrics", timeout=10).text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "axtui_requests_total" and s.labels["route"] == "chat-new"
                   and s.labels["region"] == "eu" and s.labels["outcome"] == "ok")

    assert wait_for(count, 10, "chat-new in /metrics") == 1.0


def test_alerting_waits_for_a_restart_and_is_named(env: Env):
    result = env.reload_with(alerting={"interval_s": 30})
    assert set(result["restart_required"]) == {"alerting"}
    assert env.served.gateway.host.config.alerting.interval_s == INTERVAL_S
