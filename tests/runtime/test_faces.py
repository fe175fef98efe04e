"""The faces stand on the host: `axtui route` honours the store's operator state, and
`axtui demo` writes to the store only off its engine's callbacks."""

from __future__ import annotations

import json
import sys

import pytest

from axtui.cli.main import run
from axtui.store.db import open_store

FAST = ["groq/llama-3.1-8b-instant", "openai/gpt-4o-mini", "gemini/gemini-2.0-flash-lite"]


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


def route(cli, *args: str) -> tuple[int, dict]:
    code, out, err = cli("route", "hello", "--json", *args)
    assert out, err
    return code, json.loads(out)["record"]


def test_route_skips_a_deployment_drained_in_the_store(cli, url):
    for dep in FAST[:2]:
        assert cli("deployments", "drain", dep, "--reason", "bad answers")[0] == 0
    code, record = route(cli, "--route", "chat-fast")
    assert code == 0
    assert [a["deployment"] for a in record["attempts"]] == [FAST[2]]
    assert len(open_store(url).recent_records()) == 1  # and it recorded into that store


def test_route_with_every_candidate_drained_fails_saying_so(cli):
    for dep in FAST:
        cli("deployments", "drain", dep, "--reason", "maintenance")
    code, record = route(cli, "--route", "chat-fast")
    assert code == 1
    assert record["attempts"] == [] and "drained: maintenance" in record["error"]


def test_route_without_recording_still_honours_drains(cli, url):
    for dep in FAST[:2]:
        cli("deployments", "drain", dep, "--reason", "bad answers")
    code, record = route(cli, "--route", "chat-fast", "--no-record")
    assert code == 0 and record["deployment"] == FAST[2]
    assert open_store(url).recent_records() == []


def test_route_follows_a_rollout_and_a_kill_set_in_the_store(cli):
    flag = "flash_lite_chat"  # the demo's split: chat users to gemini flash-lite, at 5 %
    assert cli("flags", "rollout", flag, "100", "--force", "--reason", "test")[0] == 0
    _, record = route(cli, "--route", "chat", "--user", "u1")
    assert record["flags"][flag] != "off"
    assert record["deployment"] == "gemini/gemini-2.0-flash-lite"
    assert cli("flags", "kill", flag, "--reason", "bad answers")[0] == 0
    _, record = route(cli, "--route", "chat", "--user", "u1")
    assert record["flags"][flag] == "off"


def test_demo_writes_to_the_store_only_outside_engine_callbacks(cli, url, monkeypatch):
    """Records go through the recorder and events through the event writer: no store call
    is made from inside the engine's record or event listeners."""
    from axtui.store import db

    inside_callbacks = []
    calls = []
    for name in ("connect", "begin"):
        original = getattr(db.Store, name)

        def spy(self, _original=original, _name=name):
            frame = sys._getframe(1)
            while frame is not None:
                code = frame.f_code
                if (code.co_name, code.co_filename.rsplit("/", 2)[-2:]) in (
                        ("_emit_event", ["engine", "engine.py"]),
                        ("finish", ["engine", "outcome.py"])):
                    inside_callbacks.append(_name)
                    break
                frame = frame.f_back
            calls.append(_name)
            return _original(self)

        monkeypatch.setattr(db.Store, name, spy)
    code, out, err = cli("demo", "-n", "300", "--json")
    assert code == 0, err
    assert calls and inside_callbacks == []
    store = open_store(url)
    assert len(store.recent_records(limit=1000)) == 300
    breakers = store.events(kind="breaker", limit=1000)
    assert breakers, "the demo's outages open breakers; their events reach the store"


def test_serve_runs_on_a_host_that_publishes_and_removes_its_heartbeat(url):
    import asyncio
    import time

    from axtui.config import load_config
    from axtui.gateway.app import Gateway
    from axtui.store.process_status import read_process_states

    gw = Gateway(load_config(), store_url=url, environ={})

    def faces():
        with open_store(url).connect() as conn:
            return [s.face for s in read_process_states(conn, time.time())]

    async def main():
        await gw.startup()
        try:
            await gw.host.drain(FAST[0], "slow", by="oncall")
            return faces(), gw.engine.deployments[FAST[0]].drained
        finally:
            await gw.shutdown()

    running, drained = asyncio.run(main())
    assert running == ["serve"] and drained == "slow"
    assert faces() == [] and gw.host.state == "stopped"
