"""POST /v1/feedback: a caller rates a completion it got through the official `openai` SDK;
the rating lands in the store against the record's id, only from the key that made it, with
its comment only where the route captures content. Bad input is an OpenAI-style 400 naming
the field; an unknown (or another key's) request is a 404."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
from sqlalchemy import text

from axtui.store.db import open_store
from tests.fakes.openai_upstream import OpenAIUpstream

from .harness import (
    LoopThread,
    Served,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
)

KEYS = {"alice": "axt-alice-feedback-0123456789", "bob": "axt-bob-feedback-0123456789"}
KEY_ENV = {n: f"AXTUI_TEST_FEEDBACK_{n.upper()}" for n in KEYS}


@dataclass
class Env:
    served: Served

    def client(self, who: str = "alice") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.served.base_url, api_key=KEYS[who], max_retries=0,
                             timeout=15)

    def rate(self, body: dict, who: str = "alice") -> httpx.Response:
        return httpx.post(f"{self.served.url}/v1/feedback", json=body, timeout=15,
                          headers={"authorization": f"Bearer {KEYS[who]}"})

    def rows(self) -> dict[str, dict]:
        with open_store(self.served.store_url) as store, store.connect() as conn:
            return {r["request_id"]: dict(r) for r in conn.execute(
                text("SELECT * FROM feedback")).mappings()}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    loop = LoopThread()
    upstream = OpenAIUpstream(reply_text="Hello.")
    loop.run(upstream.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('feedback')}/gw.db"
    config = make_config({
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {"a": openai_provider(upstream.base_url)},
        "deployments": [deployment("a", "gpt-a")],
        "routes": {"chat": {"candidates": ["a/gpt-a"], "capture_content": True},
                   "plain": {"candidates": ["a/gpt-a"]},
                   "metered": {"candidates": ["a/gpt-a"]}},
        "keys": [{"name": n, "key_env": KEY_ENV[n]} for n in KEYS],
        "feedback": {"scale": "1..5"},
    })
    environ = {KEY_ENV[n]: k for n, k in KEYS.items()}
    served = loop.run(start_gateway(config, store_url, environ))
    try:
        yield Env(served)
    finally:
        loop.run(stop_gateway(served))
        loop.run(upstream.close())
        loop.close()


def chat(env: Env, route: str = "chat", who: str = "alice") -> str:
    done = env.client(who).chat.completions.create(
        model=route, messages=[{"role": "user", "content": "hi"}])
    return done.id


def test_a_rating_attaches_to_the_record_of_the_completion_it_names(env):
    cid = chat(env)
    r = env.rate({"request_id": cid, "score": 4, "label": "helpful", "comment": "good"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "feedback" and body["score"] == 4 and body["comment_stored"]
    row = env.rows()[cid.removeprefix("chatcmpl-")]
    assert (row["score"], row["label"], row["comment"], row["route"], row["deployment"]) == (
        4.0, "helpful", "good", "chat", "a/gpt-a")
    assert row["key_id"] is not None


def test_a_comment_is_dropped_where_the_route_does_not_capture_content(env):
    cid = chat(env, route="plain")
    r = env.rate({"request_id": cid, "score": 2, "comment": "private words"})
    assert r.status_code == 200 and r.json()["comment_stored"] is False
    assert env.rows()[cid.removeprefix("chatcmpl-")]["comment"] is None


def test_a_second_rating_replaces_the_first(env):
    cid = chat(env)
    assert env.rate({"request_id": cid, "score": 1}).status_code == 200
    assert env.rate({"request_id": cid, "score": 5}).status_code == 200
    assert env.rows()[cid.removeprefix("chatcmpl-")]["score"] == 5.0


def test_another_key_cannot_rate_a_request_it_did_not_make(env):
    cid = chat(env, who="alice")
    r = env.rate({"request_id": cid, "score": 1}, who="bob")
    assert r.status_code == 404
    assert r.json()["error"]["param"] == "request_id"
    assert cid.removeprefix("chatcmpl-") not in env.rows()


def test_an_unknown_request_id_is_a_404(env):
    r = env.rate({"request_id": "chatcmpl-nope", "score": 3})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "request_not_found"


@pytest.mark.parametrize(("body", "field"), [
    ({"score": 3}, "request_id"),
    ({"request_id": "x", "score": 6}, "score"),
    ({"request_id": "x", "score": 2.5}, "score"),  # the 1..5 scale is whole stars
    ({"request_id": "x", "score": "5"}, "score"),
    ({"request_id": "x", "score": True}, "score"),
    ({"request_id": "x", "score": 3, "label": 7}, "label"),
    ({"request_id": "x", "score": 3, "comment": "c" * 5000}, "comment"),
    ({"request_id": "x", "score": 3, "stars": 3}, "stars"),
])
def test_bad_input_is_a_400_naming_the_field(env, body, field):
    r = env.rate(body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == field
    assert field in err["message"]


def test_a_rating_needs_the_callers_key(env):
    r = httpx.post(f"{env.served.url}/v1/feedback", json={"request_id": "x", "score": 3})
    assert r.status_code == 401


def test_metrics_show_the_ratings_per_route_and_deployment(env):
    for score in (5, 2):
        assert env.rate({"request_id": chat(env, route="metered"), "score": score}
                        ).status_code == 200
    text_ = httpx.get(f"{env.served.url}/metrics", timeout=15).text
    labels = '{deployment="a/gpt-a",route="metered"}'
    assert f"axtui_feedback_score_count{labels} 2.0" in text_
    assert f"axtui_feedback_score_sum{labels} 7.0" in text_
