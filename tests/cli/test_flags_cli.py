"""`axtui flags ...` and `axtui deployments ...` as a user runs them: output, exit codes
(0 ok/go, 1 refused/no-go, 2 bad input, 3 inconclusive), and what lands in the store."""

from __future__ import annotations

import json
import sys
import time

import pytest

from axtui.cli.main import run
from axtui.config import load_config
from axtui.flags.ops import change, get_flag, seed
from axtui.store.db import open_store
from tests.flags.conftest import traffic

FLAG = "flash_lite_chat"  # the demo's split: 5 % of chat users to gemini flash-lite


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def cli(capsys, monkeypatch, url):
    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["axtui", *args, "--store", url])
        try:
            run()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def aged(url: str, minutes: float = 120) -> None:
    """The demo's flags seeded `minutes` ago, so the dwell has passed."""
    seed(open_store(url), load_config(), now=time.time() - minutes * 60)


# ---------------------------------------------------------------------------- reading


def test_list_shows_the_demo_flags_seeded_into_a_new_store(cli):
    code, out, _ = cli("flags", "list")
    assert code == 0
    assert "flash_lite_chat   split" in out and "gemini_streaming  capability" in out
    code, out, _ = cli("flags", "list", "--json")
    flags = {f["name"]: f for f in json.loads(out)["flags"]}
    assert flags[FLAG]["pct"] == 5 and flags[FLAG]["next_step"] == 10
    assert flags[FLAG]["env_override"] is None


def test_an_environment_override_is_shown_as_such(cli, monkeypatch):
    monkeypatch.setenv("AXTUI_FLAG_GEMINI_STREAMING", "off")
    code, out, _ = cli("flags", "list")
    assert "env override off (store: 5%)" in out
    code, out, _ = cli("flags", "show", "gemini_streaming", "--json")
    assert json.loads(out)["env_override"] == "off"


def test_show_and_schedule(cli):
    code, out, _ = cli("flags", "show", FLAG)
    assert code == 0 and "chat → gemini/gemini-2.0-flash-lite" in out and "owner" in out
    code, out, _ = cli("flags", "schedule", FLAG)
    assert code == 0 and "ladder 1 → 5 → 10 → 25 → 50 → 100" in out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["10%", "25%", "50%", "100%"]


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "message"), [
    (("flags", "rollout", "nope", "5"), "unknown flag 'nope'"),
    (("flags", "rollout", FLAG, "101"), "out of range"),
    (("flags", "rollout", FLAG, "2.55"), "at most one decimal"),
    (("flags", "kill", FLAG), "a kill needs a reason"),
    (("flags", "rollout", FLAG, "50", "--force"), "--force needs a reason"),
    (("flags", "revive", FLAG), "is not killed"),
])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(cli, url, args, message):
    cli("flags", "list")
    code, out, err = cli(*args)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert get_flag(open_store(url), FLAG)[0].pct == 5


def test_an_increase_past_a_guardrail_exits_1_and_says_which(cli):
    code, _, err = cli("flags", "rollout", FLAG, "50")
    assert code == 1
    assert "is too big" in err and "an increase waits" in err and "gates inconclusive" in err
    code, out, _ = cli("flags", "rollout", FLAG, "50", "--json")
    body = json.loads(out)
    assert body["code"] == 1
    assert {v["rule"] for v in body["violations"]} == {"step", "dwell", "gates"}
    assert body["verdict"]["cohort"]["requests"] == 0


def test_kill_blocks_increases_until_revived_and_is_in_the_history(cli):
    assert cli("flags", "kill", FLAG, "--reason", "wrong answers", "--by", "oncall")[0] == 0
    code, _, err = cli("flags", "rollout", FLAG, "1")
    assert code == 2 and "killed by oncall (wrong answers)" in err
    assert cli("flags", "advance", FLAG)[0] == 2
    assert cli("flags", "revive", FLAG, "--by", "oncall")[0] == 0
    code, out, _ = cli("flags", "advance", FLAG, "--by", "dev")
    assert code == 0 and "advance 0% → 1%" in out
    code, out, _ = cli("flags", "history", FLAG)
    lines = out.splitlines()
    assert [line.split()[2] for line in lines] == ["seed", "kill", "revive", "advance"]
    assert "by oncall  (wrong answers)" in lines[1]


def test_force_with_a_reason_overrides_and_is_audited(cli):
    code, out, _ = cli("flags", "rollout", FLAG, "50", "--force", "--reason", "load test",
                       "--by", "sre")
    assert code == 0 and "FORCED past step" in out
    code, out, _ = cli("flags", "history", FLAG, "--json")
    last = json.loads(out)["events"][0]["detail"]
    assert (last["forced"], last["reason"], last["by"], last["to"]) == (
        True, "load test", "sre", 50)


def test_create_checks_the_definition_against_the_config(cli):
    code, _, err = cli("flags", "create", "new_one", "--kind", "split", "--route", "nope",
                       "--deployment", "openai/gpt-4o")
    assert code == 2 and "unknown route 'nope'" in err
    code, _, err = cli("flags", "create", "new_one", "--kind", "split", "--route", "chat")
    assert code == 2 and "needs `deployment` or `variants`" in err
    code, out, _ = cli("flags", "create", "new_one", "--kind", "split", "--route", "chat",
                       "--deployment", "openai/gpt-4o", "--ladder", "1,5,25", "--owner", "me")
    assert code == 0 and "new_one: create new → 0%" in out
    assert cli("flags", "create", "new_one", "--kind", "split", "--route", "chat",
               "--deployment", "openai/gpt-4o")[0] == 2  # exists


# ---------------------------------------------------------------------------- gates


def test_validate_exits_3_when_inconclusive(cli):
    code, out, _ = cli("flags", "validate", FLAG)
    assert code == 3 and "INCONCLUSIVE" in out and "too little data" in out


def test_validate_exits_0_on_go_and_advance_then_takes_the_next_step(cli, url):
    aged(url)
    store = open_store(url)
    traffic(store, get_flag(store, FLAG)[0], users=3000, start=time.time() - 3000)
    code, out, _ = cli("flags", "validate", FLAG)
    assert code == 0, out
    assert "GO" in out and "savings:" in out and "split:" in out
    code, out, _ = cli("flags", "report", FLAG, "--json")
    assert json.loads(out)["verdict"] == "go"
    code, out, _ = cli("flags", "advance", FLAG)
    assert code == 0 and "advance 5% → 10%" in out


def test_validate_exits_1_on_no_go(cli, url):
    aged(url)
    store = open_store(url)
    traffic(store, get_flag(store, FLAG)[0], users=3000, start=time.time() - 3000,
            cohort={"latency_ms": 2_000.0})
    code, out, _ = cli("flags", "validate", FLAG)
    assert code == 1 and "NO-GO" in out and "FAIL  p95_latency" in out


def test_validate_watch_rolls_back_after_the_configured_failures(cli, url):
    aged(url)
    store = open_store(url)
    traffic(store, get_flag(store, FLAG)[0], users=3000, start=time.time() - 3000,
            fail_every=2)
    code, out, _ = cli("flags", "validate", FLAG, "--watch", "--count", "3",
                       "--interval", "0.05")
    assert code == 1
    assert out.count("no-go") == 3 and "ROLLED BACK to 0%" in out
    state = get_flag(store, FLAG)[0]
    assert state.killed is not None and state.killed.by == "auto-rollback"  # rollback_to kill


def test_a_conflict_exits_4(cli, url, monkeypatch):
    from axtui.flags import ops

    cli("flags", "list")
    real, raced = ops.get_flag, []

    def racing(store, name):
        got = real(store, name)
        if not raced:  # another process's change lands between our read and our write
            raced.append(1)
            change(open_store(url), name, action="rollout", pct=1, by="other")
        return got

    monkeypatch.setattr(ops, "get_flag", racing)
    code, _, err = cli("flags", "kill", FLAG, "--reason", "x")
    assert code == 4 and "changed while this kill was being decided" in err


# ---------------------------------------------------------------------------- deployments


def test_drain_and_undrain_a_deployment_with_its_history(cli):
    dep = "groq/llama-3.1-8b-instant"
    code, _, err = cli("deployments", "drain", dep)
    assert code == 2 and "needs --reason" in err
    assert cli("deployments", "drain", "nope/x", "--reason", "r")[0] == 2
    code, out, _ = cli("deployments", "drain", dep, "--reason", "429 storm", "--by", "oncall")
    assert code == 0 and "drained (429 storm)" in out
    code, out, _ = cli("deployments", "list", "--json")
    rows = {r["deployment"]: r for r in json.loads(out)["deployments"]}
    assert rows[dep]["drained"]["reason"] == "429 storm" and "chat" in rows[dep]["routes"]
    assert cli("deployments", "undrain", dep)[0] == 0
    code, _, err = cli("deployments", "undrain", dep)
    assert code == 2 and "is not drained" in err
    code, out, _ = cli("deployments", "history", dep)
    assert [line.split()[2] for line in out.splitlines()] == ["drain", "undrain"]
    assert "(429 storm)" in out.splitlines()[0]


def test_deployment_history_includes_flag_changes_that_steer_to_it(cli):
    cli("flags", "kill", FLAG, "--reason", "bad", "--by", "oncall")
    code, out, _ = cli("deployments", "history", "gemini/gemini-2.0-flash-lite")
    assert code == 0
    assert "flag flash_lite_chat:" in out and "kill" in out
