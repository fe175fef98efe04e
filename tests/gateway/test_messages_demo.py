"""The bundled demo config served on loopback (simulated providers, no key): an Anthropic
client uses its `claude` route through POST /v1/messages, as the README shows."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from axtui.config import load_config

from .harness import LoopThread, Served, start_gateway, stop_gateway, wait_for_records


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Served]:
    loop = LoopThread()
    url = f"sqlite:///{tmp_path_factory.mktemp('demo')}/demo.db"
    served = loop.run(start_gateway(load_config(), url, {}))
    try:
        yield served
    finally:
        loop.run(stop_gateway(served))
        loop.close()


def client(demo: Served) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=demo.url, api_key="any key: the demo has none",
                               max_retries=0, timeout=30)


def test_the_demo_claude_route_answers_an_anthropic_client(demo):
    msg = client(demo).messages.create(model="claude", max_tokens=64, messages=[
        {"role": "user", "content": "hi"}])
    assert msg.model == "claude" and msg.content[0].type == "text"
    assert msg.content[0].text
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert msg.usage.output_tokens > 0


def test_the_demo_claude_route_streams_to_an_anthropic_client(demo):
    with client(demo).messages.stream(model="claude", max_tokens=64, metadata={
            "user_id": "demo-stream"}, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text and final.content[0].text == text
    [rec] = wait_for_records(demo.store_url, lambda r: r.user == "demo-stream")
    assert rec.face == "anthropic" and rec.route == "claude" and rec.stream


def test_the_readmes_curl_needs_no_key_on_the_demo(demo):
    r = httpx.post(f"{demo.url}/v1/messages", timeout=30, json={
        "model": "claude", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message"
