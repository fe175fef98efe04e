"""A rollout its users rate worse is a no-go: chats through the official `openai` SDK under a
50% split flag, each rated over httpx (the cohort low, the baseline high), then the flag's
go/no-go report on the admin API fails its rating gate."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.openai_upstream import OpenAIUpstream

from .harness import (
    ADMIN_ENV,
    ADMIN_TOKEN,
    LoopThread,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
)

KEY, KEY_ENV = "axt-rollout-rater-0123456789", "AXTUI_TEST_ROLLOUT_RATER"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    loop = LoopThread()
    upstream = OpenAIUpstream(reply_text="Hello.")
    loop.run(upstream.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('rollout')}/gw.db"
    config = make_config({
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {"a": openai_provider(upstream.base_url)},
        "deployments": [deployment("a", "gpt-a"), deployment("a", "gpt-b")],
        "routes": {"chat": {"candidates": ["a/gpt-a"]}},
        "keys": [{"name": "rater", "key_env": KEY_ENV}],
        "feedback": {"scale": "1..5"},
        "gateway": {"admin_token_env": ADMIN_ENV},
        "flags": {"to_b": {
            "pct": 50, "effect": {"kind": "split", "route": "chat", "deployment": "a/gpt-b"},
            "gates": {"min_samples": 5, "min_ratings": 5, "max_rating_drop": 0.5,
                      "max_p95_ratio": 100.0, "max_cost_ratio": 100.0}}},
    })
    s = loop.run(start_gateway(config, store_url, {KEY_ENV: KEY, ADMIN_ENV: ADMIN_TOKEN}))
    try:
        yield s
    finally:
        loop.run(stop_gateway(s))
        loop.run(upstream.close())
        loop.close()


def test_a_cohort_rated_worse_than_its_baseline_is_a_no_go(served):
    client = openai.OpenAI(base_url=served.base_url, api_key=KEY, max_retries=0, timeout=15)
    sides = {"a/gpt-a": 0, "a/gpt-b": 0}
    for i in range(40):
        raw = client.chat.completions.with_raw_response.create(
            model="chat", user=f"u{i}", messages=[{"role": "user", "content": "hi"}])
        served_by = raw.headers["x-axtui-deployment"]
        r = httpx.post(f"{served.url}/v1/feedback", timeout=15,
                       headers={"authorization": f"Bearer {KEY}"},
                       json={"request_id": raw.parse().id,
                             "score": 2 if served_by == "a/gpt-b" else 5})
        assert r.status_code == 200, r.text
        assert r.json()["deployment"] == served_by
        sides[served_by] += 1
    assert min(sides.values()) >= 5, sides  # both sides rated
    report = httpx.get(f"{served.url}/admin/flags/to_b/report", timeout=15,
                       headers={"authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert report["verdict"] == "no-go", report["reasons"]
    rating = next(c for c in report["checks"] if c["name"] == "rating")
    assert (rating["passed"], rating["observed"], rating["limit"]) == (False, 2.0, 4.5)
    assert report["cohort"]["ratings"] == sides["a/gpt-b"]
    assert any(why.startswith("rating 2.00 < 4.50") for why in report["reasons"])
