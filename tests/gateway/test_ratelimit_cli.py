"""`axtui ratelimit status|reset` without [redis]: the counters live in the gateway
process, so the CLI asks its admin API."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest

from axtui.cli.main import run

from .harness import ADMIN_ENV, ADMIN_TOKEN, Served, stop_gateway
from .test_ip_quotas import _gateway, chat

CONFIG = f"""
[providers.a]
protocol = "openai"
base_url = "http://127.0.0.1:9/v1"

[[deployments]]
provider = "a"
model = "m"
price = {{ input = "1", output = "2" }}

[routes.chat]
candidates = ["a/m"]

[gateway]
admin_token_env = "{ADMIN_ENV}"
"""


@pytest.fixture
def served(env, tmp_path) -> Iterator[Served]:
    s = _gateway(env, tmp_path, ["127.0.0.1/32"])
    yield s
    env.loop.run(stop_gateway(s))


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    path = tmp_path / "cli.toml"
    path.write_text(CONFIG)

    def invoke(*args: str, token: str | None = ADMIN_TOKEN) -> tuple[int, str, str]:
        if token is None:
            monkeypatch.delenv(ADMIN_ENV, raising=False)
        else:
            monkeypatch.setenv(ADMIN_ENV, token)
        monkeypatch.setattr(sys, "argv", ["axtui", "ratelimit", *args, "--config", str(path)])
        try:
            run()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def test_status_and_reset_of_an_ip_go_through_the_running_gateway(served, cli):
    for _ in range(2):
        chat(served, "203.0.113.20")
    code, out, _ = cli("status", "--ip", "203.0.113.20", "--url", served.url, "--json")
    assert code == 0
    body = json.loads(out)
    assert body["source"] == "process" and body["quotas"][0]["rpm"]["remaining"] == 0
    code, out, _ = cli("status", "--ip", "203.0.113.20", "--url", served.url)
    assert code == 0 and "0/2 left" in out and "ip" in out
    code, out, _ = cli("reset", "--ip", "203.0.113.20", "--url", served.url, "--json")
    assert code == 0 and json.loads(out)["was_counted"] is True
    assert chat(served, "203.0.113.20").status_code == 200


def test_the_gateways_refusal_of_a_selector_is_one_line_and_exit_2(served, cli):
    code, _, err = cli("status", "--user", "u1", "--url", served.url)
    assert code == 2
    assert err.strip() == ("error: gateway said 404: no user quota applies to 'u1' "
                           "(configure [quotas.per_user])")


def test_without_the_admin_token_it_says_which_variable_to_set(cli):
    code, _, err = cli("status", "--ip", "10.0.0.1", token=None)
    assert code == 2 and ADMIN_ENV in err and "gateway process" in err


def test_bad_selectors_are_refused_before_asking_anyone(cli):
    assert cli("status", "--ip", "nope")[2].strip() == "error: --ip 'nope': not an IP address"
    code, _, err = cli("status", "--ip", "10.0.0.1", "--user", "u")
    assert code == 2 and "choose one of" in err
    code, _, err = cli("reset")
    assert code == 2 and "say whose quota" in err
    code, _, err = cli("status", "--route", "nope")
    assert code == 2 and "unknown route 'nope'" in err


def test_no_gateway_answering_is_exit_1(cli):
    code, _, err = cli("status", "--ip", "10.0.0.1", "--url", "http://127.0.0.1:9")
    assert code == 1 and "no gateway answered at http://127.0.0.1:9" in err
