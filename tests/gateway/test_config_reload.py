"""Config reload without a restart (issue 14, part 3): `POST /admin/config/reload` re-reads
the file the gateway started with; a bad file is refused whole with its problems listed;
a good one applies to new requests at once, in-flight ones finish; restart-only sections
are named; every reload is an audited event with its diff."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from axtui.config import load_config
from axtui.drill.gateway_config import to_toml
from axtui.gateway.app import Gateway
from axtui.gateway.serve import make_server
from axtui.store.db import open_store
from tests.fakes.openai_upstream import OpenAIUpstream

from .harness import ADMIN_ENV, ADMIN_TOKEN, LoopThread, Served, deployment, openai_provider

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def config_table(a_url: str, b_url: str, store_url: str, *, chat: list[str],
                 rpm: int = 100_000) -> dict[str, Any]:
    return {
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {"a": openai_provider(a_url), "b": openai_provider(b_url)},
        "deployments": [deployment("a", "gpt-a"), deployment("b", "gpt-b")],
        "routes": {"chat": {"candidates": chat, "strategy": "priority"}},
        "quotas": {"per_user": {"rpm": rpm}},
        "gateway": {"admin_token_env": ADMIN_ENV},
        "metrics": {"enabled": False},
    }


@dataclass
class Env:
    loop: LoopThread
    served: Served
    path: Path
    a: OpenAIUpstream
    b: OpenAIUpstream
    store_url: str

    def write(self, **kw: Any) -> None:
        table = config_table(self.a.base_url, self.b.base_url, self.store_url, **kw)
        self.path.write_text(to_toml(table))

    def reload(self, by: str = "test") -> httpx.Response:
        return httpx.post(f"{self.served.url}/admin/config/reload", json={"by": by},
                          headers=ADMIN, timeout=30)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.served.base_url, api_key="none", max_retries=0,
                             timeout=15)

    def ask(self) -> str:
        r = self.client().chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], user="u1")
        return r.choices[0].message.content or ""

    def events(self) -> list[Any]:
        store = open_store(self.store_url)
        try:
            return store.events(kind="config_reload", limit=100)
        finally:
            store.close()


async def _start(path: Path, store_url: str) -> Served:
    cfg = load_config(path)
    gw = Gateway(cfg, store_url=store_url, environ={ADMIN_ENV: ADMIN_TOKEN}, config_path=path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(gw, "127.0.0.1", port)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            raise RuntimeError("the gateway did not start")
        await asyncio.sleep(0.01)
    return Served(gw, server, task, port, store_url)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    loop = LoopThread()
    a = OpenAIUpstream(reply_text="from A")
    b = OpenAIUpstream(reply_text="from B")
    loop.run(a.start())
    loop.run(b.start())
    store_url = f"sqlite:///{tmp_path}/gw.db"
    path = tmp_path / "axtui.toml"
    path.write_text(to_toml(config_table(a.base_url, b.base_url, store_url, chat=["a/gpt-a"])))
    served = loop.run(_start(path, store_url))
    try:
        yield Env(loop, served, path, a, b, store_url)
    finally:
        served.server.should_exit = True
        loop.run(asyncio.wait_for(served.task, 30))
        loop.run(a.close())
        loop.run(b.close())
        loop.close()


def test_a_good_config_routes_the_next_request_by_the_new_route(env: Env) -> None:
    assert env.ask() == "from A"
    env.write(chat=["b/gpt-b"])
    r = env.reload()
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True
    assert env.ask() == "from B"


def test_a_bad_config_is_refused_with_its_problems_and_the_running_one_stays(env: Env) -> None:
    env.write(chat=["nowhere/gpt-z"])
    r = env.reload()
    assert r.status_code == 422
    body = r.json()
    assert body["ok"] is False
    assert body["error"]["code"] == "config_invalid"
    assert any("nowhere/gpt-z" in e for e in body["errors"])
    assert env.ask() == "from A"


def test_a_file_that_is_not_toml_is_refused(env: Env) -> None:
    env.path.write_text("routes = [\n")
    r = env.reload()
    assert r.status_code == 422
    assert "not valid TOML" in r.json()["errors"][0]
    assert env.ask() == "from A"


def test_restart_only_sections_are_named_and_keep_their_running_values(env: Env) -> None:
    table = config_table(env.a.base_url, env.b.base_url, "sqlite:////elsewhere.db",
                         chat=["b/gpt-b"])
    table["gateway"]["listen"] = "127.0.0.1:9"
    env.path.write_text(to_toml(table))
    r = env.reload()
    assert r.status_code == 200, r.text
    waiting = r.json()["restart_required"]
    assert set(waiting) == {"gateway", "store"}
    gw = env.served.gateway
    assert gw.host.config.store.url == env.store_url
    assert gw.host.config.gateway.listen != "127.0.0.1:9"
    assert env.ask() == "from B"  # the live part applied


def test_every_reload_is_an_audited_event_with_its_diff(env: Env) -> None:
    env.write(chat=["b/gpt-b", "a/gpt-a"], rpm=50)
    assert env.reload(by="alice").status_code == 200
    env.write(chat=["nowhere/x"])
    assert env.reload(by="bob").status_code == 422
    events = env.events()
    assert [e.detail["by"] for e in events] == ["bob", "alice"]  # newest first
    applied = events[1].detail
    chat = applied["diff"]["routes"]["changed"]["chat"]["candidates"]
    assert chat == {"old": ["a/gpt-a"], "new": ["b/gpt-b", "a/gpt-a"]}
    assert applied["diff"]["limits"]["quotas"]["new"]["per_user"]["rpm"] == 50
    assert events[0].detail["ok"] is False and events[0].detail["errors"]


def test_the_admin_reload_needs_the_admin_token(env: Env) -> None:
    r = httpx.post(f"{env.served.url}/admin/config/reload", json={}, timeout=10)
    assert r.status_code == 401


def test_reload_under_load_fails_no_request_and_the_new_route_serves_at_once(env: Env) -> None:
    """c=16, 2,400 requests with the official SDK; halfway the route moves from A to B and
    the user quota changes. Every request succeeds; every one sent after the reload
    answered is served by B."""
    total, concurrency = 2400, 16
    done: list[tuple[float, str]] = []  # (monotonic time sent, who answered)
    reloaded_at: list[float] = []

    async def run() -> None:
        client = openai.AsyncOpenAI(base_url=env.served.base_url, api_key="none",
                                    max_retries=0, timeout=15)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(total):
            queue.put_nowait(i)
        halfway = asyncio.Event()

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                sent = time.monotonic()
                r = await client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "hi"}], user="u1")
                done.append((sent, r.choices[0].message.content or ""))
                if len(done) >= total // 2:
                    halfway.set()

        async def reloader() -> None:
            await halfway.wait()
            env.write(chat=["b/gpt-b"], rpm=90_000)
            async with httpx.AsyncClient(timeout=30) as http:
                r = await http.post(f"{env.served.url}/admin/config/reload",
                                    json={"by": "load-test"}, headers=ADMIN)
            assert r.status_code == 200, r.text
            reloaded_at.append(time.monotonic())

        await asyncio.gather(reloader(), *(worker() for _ in range(concurrency)))
        await client.close()

    asyncio.run(run())
    assert len(done) == total  # none failed (a failure raises out of gather)
    after = [who for sent, who in done if sent > reloaded_at[0]]
    before = [who for sent, who in done if sent <= reloaded_at[0]]
    assert after and set(after) == {"from B"}
    assert "from A" in before
    assert env.served.gateway.engine.quotas.per_user.rpm == 90_000


# ---------------------------------------------------------------------- the CLI


def _cli(env: Env, *args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from axtui.cli.main import app
    from axtui.cli.output import CliError

    result = CliRunner().invoke(
        app, ["config", "reload", "--url", env.served.url, "--config", str(env.path), *args],
        env={ADMIN_ENV: ADMIN_TOKEN})
    if isinstance(result.exception, CliError):
        return result.exception.code, result.exception.message
    return result.exit_code, result.output


def test_the_cli_reloads_a_running_gateway_and_lists_what_changed(env: Env) -> None:
    env.write(chat=["b/gpt-b"])
    code, out = _cli(env, "--by", "carol")
    assert code == 0, out
    assert out.startswith("applied:")
    assert "routes changed: chat (candidates)" in out
    assert env.ask() == "from B"
    assert env.events()[0].detail["by"] == "carol"


def test_the_cli_exits_1_and_lists_the_problems_of_a_refused_config(env: Env) -> None:
    import json

    env.write(chat=["nowhere/gpt-z"])
    code, out = _cli(env, "--json")
    assert code == 1, out
    body = json.loads(out)
    assert body["ok"] is False and any("nowhere/gpt-z" in e for e in body["errors"])


def test_the_cli_without_the_admin_token_is_one_line_and_exit_2(env: Env) -> None:
    from typer.testing import CliRunner

    from axtui.cli.main import app

    result = CliRunner().invoke(app, ["config", "reload", "--url", env.served.url,
                                      "--config", str(env.path)], env={ADMIN_ENV: ""})
    assert result.exception is not None and result.exception.code == 2
    assert ADMIN_ENV in result.exception.message
