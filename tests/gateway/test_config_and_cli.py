"""The [gateway] and [[keys]] config sections, and `axtui keys` / `axtui serve` as a user
runs them: JSON output, one-line errors, exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from axtui.cli.main import app
from axtui.cli.output import CliError
from axtui.config import ConfigError, load_config, parse_config
from axtui.gateway.serve import parse_listen

from .harness import deployment, openai_provider

BASE = {
    "providers": {"p": openai_provider("http://127.0.0.1:9/v1")},
    "deployments": [deployment("p", "m")],
    "routes": {"chat": {"candidates": ["p/m"]}, "big": {"candidates": ["p/m"]}},
}
runner = CliRunner()


def problems(**extra) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(copy.deepcopy(BASE) | extra, "axtui.toml")
    return e.value.problems


# --------------------------------------------------------------------------- config


def test_gateway_defaults():
    cfg = parse_config(copy.deepcopy(BASE))
    g = cfg.gateway
    assert (g.listen, g.admin_token_env, g.auth) == ("127.0.0.1:4000", "AXTUI_ADMIN_TOKEN",
                                                     "auto")
    assert g.max_body_bytes == 4 * 1024 * 1024 and g.shutdown_grace_s == 30
    assert (g.header_timeout_s, g.max_json_depth) == (10, 128)
    assert cfg.keys == []
    assert load_config().gateway.listen == "127.0.0.1:4000"  # the bundled demo


def test_keys_section_is_validated():
    cfg = parse_config(copy.deepcopy(BASE) | {"keys": [
        {"name": "svc", "key_env": "SVC", "routes": ["chat"], "rpm": 5,
         "budget_day_usd": "2.50"}]})
    assert cfg.keys[0].routes == ["chat"] and str(cfg.keys[0].budget_day_usd) == "2.50"
    assert problems(keys=[{"name": "a", "key_env": "A", "routes": ["nope"]}]) == [
        "axtui.toml: keys[0].routes: unknown route 'nope'"]
    assert problems(keys=[{"name": "a", "key_env": "A"}, {"name": "a", "key_env": "B"}]) == [
        "axtui.toml: keys[1].name: duplicate key name 'a'"]
    assert problems(keys=[{"name": "a", "key_env": "A", "rpm": 0}])[0].startswith(
        "axtui.toml: keys[0].rpm:")


def test_a_literal_caller_key_is_refused():
    [p] = problems(keys=[{"name": "a", "key": "axt-secret"}])
    assert "a literal caller key is not allowed" in p and "axt-secret" not in p


def test_unknown_gateway_settings_are_named():
    assert problems(gateway={"port": 80}) == ["axtui.toml: gateway.port: unknown key"]
    assert problems(gateway={"auth": "maybe"})[0].startswith("axtui.toml: gateway.auth:")


@pytest.mark.parametrize(("listen", "expected"), [
    ("127.0.0.1:4000", ("127.0.0.1", 4000)), (":8080", ("0.0.0.0", 8080)),
    ("[::1]:4000", ("::1", 4000))])
def test_listen_addresses(listen: str, expected: tuple[str, int]):
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["4000", "host:", "host:99999", "host:http"])
def test_bad_listen_addresses(listen: str):
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_listen(listen)


# --------------------------------------------------------------------------- axtui keys


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def keys(*args: str) -> object:
    return runner.invoke(app, ["keys", *args])


def test_keys_create_list_revoke(store_url: str):
    made = keys("create", "--name", "ci", "--routes", "chat", "--rpm", "60", "--budget-day",
                "2", "--store", store_url, "--json")
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    secret = created["key"]
    assert secret.startswith("axt-") and created["id"].startswith("k_")
    assert (created["routes"], created["rpm"], created["budget_day_usd"]) == (["chat"], 60, "2")

    listed = keys("list", "--store", store_url, "--json")
    assert secret not in listed.stdout
    [row] = json.loads(listed.stdout)
    assert (row["name"], row["id"], row["revoked"]) == ("ci", created["id"], False)

    table = keys("list", "--store", store_url)
    assert "ci" in table.stdout and created["id"] in table.stdout and secret not in table.stdout

    revoked = keys("revoke", created["id"], "--store", store_url, "--json")
    assert json.loads(revoked.stdout)["revoked"] is True
    assert json.loads(keys("list", "--store", store_url, "--json").stdout)[0]["revoked"]


def test_keys_create_prints_the_key_once_for_people(store_url: str):
    made = keys("create", "--name", "ana", "--store", store_url)
    assert made.exit_code == 0
    lines = made.stdout.splitlines()
    assert lines[0].startswith("created key ana (k_") and lines[1].startswith("axt-")


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--name", "x", "--routes", "nope"], "--routes: unknown route(s) nope"),
    (["create", "--name", "x", "--budget-day", "lots"], "--budget-day 'lots'"),
    (["revoke", "ghost"], "no live key named or with id 'ghost'"),
])
def test_key_mistakes_are_one_line(store_url: str, args: list[str], message: str):
    result = keys(*args, "--store", store_url)
    assert isinstance(result.exception, CliError)
    assert message in result.exception.message


def test_list_shows_config_keys_and_a_missing_env(tmp_path: Path, store_url: str):
    cfg = tmp_path / "axtui.toml"
    cfg.write_text('[providers.p]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                   '[[deployments]]\nprovider = "p"\nmodel = "m"\n'
                   '[routes.chat]\ncandidates = ["p/m"]\n'
                   '[[keys]]\nname = "svc"\nkey_env = "AXTUI_TEST_UNSET_KEY_ENV"\n')
    rows = json.loads(keys("list", "--config", str(cfg), "--store", store_url, "--json").stdout)
    assert rows == [{"id": "", "name": "svc", "source": "config", "routes": None, "rpm": None,
                     "tpm": None, "budget_day_usd": None, "revoked": False, "created_at": None,
                     "region": None, "region_policy": "prefer",
                     "problem": "environment variable AXTUI_TEST_UNSET_KEY_ENV is not set"}]
    assert keys("revoke", "svc", "--config", str(cfg), "--store", store_url
                ).exception.message == "key 'svc' is defined in the config: remove it there"

    # and serve refuses to start without it: exit 2, one line, no traceback
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "serve", "--config",
                           str(cfg), "--store", store_url, "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == ("error: keys[0] (svc): environment variable "
                           "AXTUI_TEST_UNSET_KEY_ENV is not set\n")


def test_serve_refuses_a_bad_listen_address():
    result = runner.invoke(app, ["serve", "--listen", "nowhere"])
    assert isinstance(result.exception, CliError)
    assert "expected HOST:PORT" in result.exception.message


REGIONS_TOML = ('[providers.p]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                '[[deployments]]\nprovider = "p"\nmodel = "m-us"\nregion = "us"\n'
                '[[deployments]]\nprovider = "p"\nmodel = "m-eu"\nregion = "eu"\n'
                '[routes.chat]\ncandidates = ["p/m-us", "p/m-eu"]\n')


@pytest.fixture
def regions_config(tmp_path: Path) -> str:
    path = tmp_path / "regions.toml"
    path.write_text(REGIONS_TOML)
    return str(path)


def test_keys_create_with_a_region_and_policy_keeps_both(store_url: str, regions_config: str):
    made = keys("create", "--name", "eu-team", "--region", "EU", "--region-policy", "require",
                "--config", regions_config, "--store", store_url, "--json")
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert (created["region"], created["region_policy"]) == ("eu", "require")  # lower-cased
    [row] = json.loads(keys("list", "--config", regions_config, "--store", store_url,
                            "--json").stdout)
    assert (row["name"], row["region"], row["region_policy"]) == ("eu-team", "eu", "require")
    listed = keys("list", "--config", regions_config, "--store", store_url).stdout
    assert "eu (require)" in listed


def test_keys_create_with_a_region_prefers_it_by_default_and_says_so(store_url: str,
                                                                      regions_config: str):
    made = keys("create", "--name", "us-team", "--region", "us", "--config", regions_config,
                "--store", store_url)
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines()[0].endswith(" in region us (prefer)")


@pytest.mark.parametrize(("args", "message"), [
    (["--region", "mars"], "--region 'mars': no deployment serves in it; regions: eu, us"),
    (["--region", "eu", "--region-policy", "always"],
     "--region-policy 'always': expected prefer or require"),
    (["--region-policy", "require"], "--region-policy needs --region"),
])
def test_keys_create_region_mistakes_are_one_line(store_url: str, regions_config: str,
                                                  args: list[str], message: str):
    result = keys("create", "--name", "x", *args, "--config", regions_config, "--store",
                  store_url)
    assert isinstance(result.exception, CliError)
    assert (result.exception.message, result.exception.code) == (message, 2)


def test_an_unknown_region_exits_2_with_one_line_and_creates_nothing(store_url: str,
                                                                      regions_config: str):
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "keys", "create", "--name",
                           "x", "--region", "mars", "--config", regions_config, "--store",
                           store_url], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("error: --region 'mars': no deployment serves in it; "
                           "regions: eu, us\n")
    assert json.loads(keys("list", "--config", regions_config, "--store", store_url,
                           "--json").stdout) == []
