"""Flag operations on the admin API: the same guarded, audited change() as the CLI, applied
by this gateway before it answers."""

from __future__ import annotations

import httpx

from .conftest import KEYS, Env
from .harness import ADMIN_TOKEN

HELLO = [{"role": "user", "content": "hi"}]
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
SPLIT = {"effect": {"kind": "split", "route": "chat", "deployment": "b/gpt-b"},
         "ladder": [1, 5, 25, 50, 100], "owner": "tests"}


def admin(env: Env, method: str, path: str, json=None) -> httpx.Response:
    return httpx.request(method, f"{env.url}/admin{path}", json=json, headers=ADMIN, timeout=10)


def served_by(env: Env, user: str = "u1") -> str:
    raw = env.client(KEYS["alice"]).chat.completions.with_raw_response.create(
        model="chat", messages=HELLO, user=user)
    return raw.headers["x-axtui-deployment"]


def test_flag_operations_need_the_admin_token(env: Env):
    r = httpx.get(f"{env.url}/admin/flags", timeout=10)
    assert r.status_code == 401


def test_a_flag_is_created_guarded_and_forced_only_with_a_reason(env: Env):
    r = admin(env, "POST", "/flags", {"name": "to_b", "definition": {**SPLIT, "pct": 50}})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "guardrail_refused" and err["violations"][0]["rule"] == "step"
    r = admin(env, "POST", "/flags", {"name": "to_b", "definition": {**SPLIT, "pct": 100},
                                      "force": True})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_change")
    assert admin(env, "GET", "/flags/to_b").status_code == 404
    r = admin(env, "POST", "/flags", {"name": "to_b", "definition": {**SPLIT, "pct": 100},
                                      "force": True, "reason": "canary on b", "by": "ops"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["changed"], body["forced"], body["state"]["applied_pct"]) == (True, True, 100)
    assert served_by(env) == "b/gpt-b"  # applied in this process before the answer
    r = admin(env, "POST", "/flags/to_b/disable", {"by": "ops", "reason": "done"})
    assert r.json()["state"]["effective_pct"] == 0
    assert served_by(env) == "a/gpt-a"


def test_a_kill_applies_at_once_needs_a_reason_and_blocks_increases(env: Env):
    admin(env, "POST", "/flags", {"name": "kill_me", "definition": {**SPLIT, "pct": 100},
                                  "force": True, "reason": "test"})
    assert served_by(env, "u2") == "b/gpt-b"
    r = admin(env, "POST", "/flags/kill_me/kill", {"by": "oncall"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_change")
    r = admin(env, "POST", "/flags/kill_me/kill", {"by": "oncall", "reason": "b is wrong"})
    assert r.status_code == 200
    assert r.json()["state"]["killed"]["by"] == "oncall"
    assert served_by(env, "u2") == "a/gpt-a"
    r = admin(env, "POST", "/flags/kill_me/rollout", {"pct": 1, "by": "dev"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "flag_killed")
    history = admin(env, "GET", "/flags/kill_me/history").json()["data"]
    assert [e["detail"]["action"] for e in history] == ["kill", "create"]
    assert history[0]["detail"]["reason"] == "b is wrong"


def test_bad_input_is_a_clear_error_and_changes_nothing(env: Env):
    admin(env, "POST", "/flags", {"name": "careful", "definition": {**SPLIT, "pct": 1}})
    for body, status, code in [
        ({"pct": 101}, 400, "invalid_change"), ({"pct": "ten"}, 400, None),
        ({"pct": 2.55}, 400, "invalid_change"), ({"pct": 50}, 422, "guardrail_refused"),
    ]:
        r = admin(env, "POST", "/flags/careful/rollout", body)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["error"]["code"] == code
    assert admin(env, "POST", "/flags/nope/rollout", {"pct": 1}).status_code == 404
    assert admin(env, "GET", "/flags/careful").json()["pct"] == 1
    r = admin(env, "POST", "/flags", {"name": "bad", "definition": {
        "effect": {"kind": "split", "route": "nope", "deployment": "b/gpt-b"}}})
    assert r.status_code == 400 and "unknown route 'nope'" in r.json()["error"]["message"]


def test_list_report_and_schedule(env: Env):
    admin(env, "POST", "/flags", {"name": "listed", "definition": {**SPLIT, "pct": 1}})
    listing = admin(env, "GET", "/flags").json()
    assert "listed" in {f["name"] for f in listing["data"]}
    assert listing["engine"]["per_request"] == 0 and listing["engine"]["problems"] == []
    report = admin(env, "GET", "/flags/listed/report").json()
    assert report["verdict"] == "inconclusive"
    assert {c["name"] for c in report["checks"]} >= {"samples", "p95_latency", "sample_ratio"}
    steps = admin(env, "GET", "/flags/listed/schedule").json()["steps"]
    assert [s["pct"] for s in steps] == [5, 25, 50, 100]
    assert admin(env, "GET", "/flags/listed/report?since_min=x").status_code == 400
