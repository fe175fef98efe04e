"""Hostile or sloppy input against the real gateway on a real port: each gets a 4xx with
OpenAI's error body (through the official SDK where it can send it, raw httpx or a raw
socket where it cannot), never a 500, a dropped connection or a connection held open."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from tests.fakes.openai_upstream import OpenAIUpstream

from .conftest import KEYS, Env
from .harness import (
    LoopThread,
    Served,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
)

AUTH = {"authorization": f"Bearer {KEYS['alice']}", "content-type": "application/json"}
USER = {"role": "user", "content": "hi"}


def post(env: Env, body: bytes) -> httpx.Response:
    return httpx.post(env.url + "/v1/chat/completions", content=body, headers=AUTH, timeout=10)


def error_of(r: httpx.Response) -> dict:
    assert set(r.json()) == {"error"}
    return r.json()["error"]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("model", ["chat\n", "chat\r\nx-evil: 1", "ch\x00at", "chat\x1b[31m"])
def test_a_model_with_control_characters_is_a_400_not_a_dropped_connection(env: Env,
                                                                           model: str):
    r = post(env, orjson.dumps({"model": model, "messages": [USER]}))
    assert r.status_code == 400
    err = error_of(r)
    assert err["param"] == "model" and "control characters" in err["message"]
    assert "x-evil" not in r.headers


def test_an_unknown_printable_model_is_still_the_404_with_its_route_header(env: Env):
    r = post(env, orjson.dumps({"model": "no-such-route ✓", "messages": [USER]}))
    assert r.status_code == 404
    assert dict(r.headers.raw)[b"x-axtui-route"].decode() == "no-such-route ✓"


# --------------------------------------------------------------------------- JSON depth


def _nested_tools(levels: int) -> bytes:
    schema = b'{"type": "object", "properties": {"x": ' * levels + b"{}" + b"}}" * levels
    return (b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "tools": '
            b'[{"type": "function", "function": {"name": "f", "parameters": ' + schema
            + b"}}]}")


def test_tool_parameters_nested_300_deep_are_a_400_naming_the_limit(env: Env):
    r = post(env, _nested_tools(150))  # two levels per step: 300 deep
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "json_too_deep" and "128 levels" in err["message"]


def test_content_nested_deep_is_a_400_too(env: Env):
    content = b"[" * 400 + b"]" * 400
    r = post(env, b'{"model": "chat", "messages": [{"role": "user", "content": '
             + content + b"}]}")
    assert r.status_code == 400
    assert error_of(r)["code"] == "json_too_deep"


def test_tool_parameters_within_the_limit_are_served(env: Env):
    assert post(env, _nested_tools(40)).status_code == 200


# --------------------------------------------------------------------------- strictness


def test_a_role_given_as_a_list_or_object_is_a_400(env: Env):
    for role in (["user"], {"user": True}):
        r = post(env, orjson.dumps({"model": "chat", "messages": [{"role": role,
                                                                    "content": "x"}]}))
        assert r.status_code == 400
        assert error_of(r)["message"].startswith("messages[0].role: expected one of")


@pytest.mark.parametrize(("kw", "message"), [
    ({"n": True}, "n: expected an integer"),
    ({"messages": [{"role": "user", "content": "x", "name": 5}]},
     "messages[0].name: expected a string"),
    ({"messages": [{"role": "user", "content": []}]}, "messages[0].content: an empty array"),
    ({"messages": [{"role": "user", "content": [{"type": "hologram"}]}]},
     "messages[0].content[0].type: 'hologram' is not a part a user message can carry"),
    ({"messages": [USER, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"}]},
     "messages[1].tool_calls[0].function.arguments: expected a string"),
])
def test_the_sdk_gets_a_bad_request_error_for_what_openai_refuses(env: Env, kw: dict,
                                                                  message: str):
    args = {"model": "chat", "messages": [USER], **kw}
    with pytest.raises(openai.BadRequestError) as e:
        env.client().chat.completions.create(**args)
    assert e.value.status_code == 400
    assert e.value.body["message"].startswith(message)


# --------------------------------------------------------------------------- header timeout


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Iterator[tuple[Served, OpenAIUpstream]]:
    """A gateway that waits 0.3 s for request headers (before an upstream slower than that)
    and takes JSON 16 levels deep."""
    loop = LoopThread()
    up = OpenAIUpstream(latency_s=0.6)
    loop.run(up.start())
    url = f"sqlite:///{tmp_path_factory.mktemp('quick')}/quick.db"
    cfg = make_config({
        "store": {"url": url, "flush_interval_s": 0.05},
        "providers": {"up": openai_provider(up.base_url)},
        "deployments": [deployment("up", "m")],
        "routes": {"chat": {"candidates": ["up/m"]}},
        "gateway": {"header_timeout_s": 0.3, "max_json_depth": 16},
    })
    served = loop.run(start_gateway(cfg, url))
    try:
        yield served, up
    finally:
        loop.run(stop_gateway(served))
        loop.run(up.close())
        loop.close()


def _read_all(s: socket.socket) -> bytes:
    """Everything until the gateway closes the connection (the socket's timeout bounds it)."""
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    return got


def _timed_out_on(port: int, sent: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        t0 = time.monotonic()
        if sent:
            s.sendall(sent)
        return _read_all(s), time.monotonic() - t0


def test_a_connection_that_sends_nothing_gets_a_408_and_is_closed(quick):
    served, _ = quick
    reply, took = _timed_out_on(served.port, b"")
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert orjson.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert 0.25 <= took < 3  # the configured 0.3 s, not uvicorn's forever


def test_a_connection_that_sends_half_its_headers_gets_a_408_and_is_closed(quick):
    served, _ = quick
    reply, took = _timed_out_on(served.port, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                                             b"content-type: appli")
    assert reply.startswith(b"HTTP/1.1 408 ") and took < 3


def test_a_kept_alive_connection_whose_next_request_stalls_gets_a_408(quick):
    served, _ = quick
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        first = s.recv(65536)
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost")  # and nothing more
        rest = _read_all(s)
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest.startswith(b"HTTP/1.1 408 ")


def test_a_request_slower_than_the_header_timeout_is_served_in_full(quick):
    served, up = quick  # the upstream takes 0.6 s: the header timer is long gone
    r = httpx.post(served.url + "/v1/chat/completions", timeout=10,
                   json={"model": "chat", "messages": [USER]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]


def test_the_json_depth_limit_is_the_configured_one(quick):
    served, _ = quick
    body = {"model": "chat", "messages": [USER]}
    nested: list = []
    for _ in range(16):
        nested = [nested]
    r = httpx.post(served.url + "/v1/chat/completions", timeout=10,
                   content=orjson.dumps({**body, "tools": nested}))
    assert r.status_code == 400
    assert "deeper than 16 levels" in r.json()["error"]["message"]
