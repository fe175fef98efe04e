"""Bad input at the HTTP level gets a 4xx with OpenAI's error body, never a 500 or a hang;
and the probes say what a load balancer needs to know."""

from __future__ import annotations

import socket
import time

import httpx
import orjson
import pytest

from .conftest import KEYS, Env

AUTH = {"authorization": f"Bearer {KEYS['alice']}"}
JSON_CT = {**AUTH, "content-type": "application/json"}
GOOD = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})


def post(env: Env, body: bytes, headers: dict[str, str] | None = None, path: str =
         "/v1/chat/completions") -> httpx.Response:
    return httpx.post(env.url + path, content=body, headers=JSON_CT if headers is None
                      else headers, timeout=10)


def error_of(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code", "param"}
    return body["error"]


def test_a_good_raw_request_is_served(env: Env):
    r = post(env, GOOD)
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(r.content))


def test_malformed_json_is_400(env: Env):
    r = post(env, b'{"model": "chat", "messages": [')
    assert r.status_code == 400
    assert error_of(r)["message"].startswith("the request body is not valid JSON")


def test_invalid_utf8_is_400(env: Env):
    r = post(env, b'{"model": "chat", "messages": [{"role": "user", "content": "\xff\xfe"}]}')
    assert r.status_code == 400
    assert "not valid UTF-8" in error_of(r)["message"]


def test_an_empty_body_is_400(env: Env):
    r = post(env, b"")
    assert r.status_code == 400
    assert "empty" in error_of(r)["message"]


def test_a_json_array_is_400(env: Env):
    r = post(env, b"[1, 2]")
    assert r.status_code == 400
    assert error_of(r)["message"] == "the request body must be a JSON object"


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_wrong_content_type_is_415(env: Env, ctype: str):
    r = post(env, GOOD, {**AUTH, "content-type": ctype})
    assert r.status_code == 415
    assert error_of(r)["code"] == "unsupported_media_type"


def test_json_with_a_charset_is_fine(env: Env):
    assert post(env, GOOD, {**AUTH, "content-type": "application/json; charset=utf-8"}
                ).status_code == 200


def test_a_huge_body_is_413_before_it_is_read(env: Env):
    r = post(env, b"x" * (1024 * 1024))  # the test gateway's limit is 64 KiB
    assert r.status_code == 413
    assert error_of(r)["code"] == "request_too_large"


def test_a_huge_chunked_body_is_413_too(env: Env):
    def chunks():
        for _ in range(40):
            yield b"y" * 4096

    r = httpx.post(env.url + "/v1/chat/completions", content=chunks(), headers=JSON_CT,
                   timeout=10)
    assert r.status_code == 413


def test_a_body_that_stops_arriving_is_408_not_a_hang(env: Env):
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
            b"\r\nauthorization: " + AUTH["authorization"].encode() +
            b"\r\ncontent-length: 500\r\n\r\n{\"model\": ")
    with socket.create_connection(("127.0.0.1", env.served.port), timeout=5) as s:
        s.sendall(head)
        t0 = time.monotonic()
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - t0 < 3  # the test gateway waits 1 s for a body


@pytest.mark.parametrize(("field", "value", "message"), [
    ("model", 42, "model: expected a non-empty string"),
    ("max_tokens", 0, "max_tokens: expected an integer >= 1"),
    ("temperature", 3, "temperature: expected a number from 0 to 2"),
    ("stream", "yes", "stream: expected a boolean"),
    ("n", 3, "n: only 1 choice per request is supported"),
    ("tools", [{"type": "retrieval"}], "tools[0].type: expected 'function'"),
])
def test_invalid_fields_are_named(env: Env, field: str, value, message: str):
    body = orjson.loads(GOOD) | {field: value}
    r = post(env, orjson.dumps(body))
    assert r.status_code == 400
    err = error_of(r)
    assert err["message"].startswith(message)
    assert err["param"] == field


def test_an_unknown_path_is_404_in_openai_shape(env: Env):
    r = httpx.get(env.url + "/v1/embeddings", headers=AUTH)
    assert r.status_code == 404
    assert error_of(r)["message"] == "Invalid URL (GET /v1/embeddings)"


def test_a_wrong_method_is_405_with_allow(env: Env):
    r = httpx.get(env.url + "/v1/chat/completions", headers=AUTH)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


def test_healthz_is_alive_without_a_key(env: Env):
    r = httpx.get(env.url + "/healthz")
    assert (r.status_code, r.json()) == (
        200, {"status": "ok", "process": env.served.gateway.host.process_id})


def test_readyz_checks_the_store_and_routability(env: Env):
    r = httpx.get(env.url + "/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"
    assert r.json()["routable"] >= 1
