"""Regions over HTTP: the x-axtui-region header and a caller key's region steer a request;
a key that requires its region is never served elsewhere, and cannot be moved by the header."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.transcription_upstream import TranscriptionUpstream
from tests.transcribe.conftest import wav

from .harness import (
    LoopThread,
    Served,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
    wait_for_records,
)

KEYS = {"anyone": "axt-anyone-0123456789", "eu": "axt-eu-locked-0123456789",
        "eu-pref": "axt-eu-prefers-0123456789"}


@dataclass
class Env:
    loop: LoopThread
    served: Served
    us: OpenAIUpstream
    eu: OpenAIUpstream
    us_stt: TranscriptionUpstream
    eu_stt: TranscriptionUpstream


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    loop = LoopThread()
    us, eu = OpenAIUpstream(reply_text="from us"), OpenAIUpstream(reply_text="from eu")
    us_stt, eu_stt = TranscriptionUpstream(text="heard in us"), TranscriptionUpstream(
        text="heard in eu")
    fakes = (us, eu, us_stt, eu_stt)
    for f in fakes:
        loop.run(f.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('regions')}/gw.db"
    cfg = make_config({
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {"us": openai_provider(us.base_url), "eu": openai_provider(eu.base_url),
                      "us-stt": openai_provider(us_stt.base_url),
                      "eu-stt": openai_provider(eu_stt.base_url)},
        "deployments": [deployment("us", "m", region="us"), deployment("eu", "m", region="eu"),
                        {"provider": "us-stt", "model": "whisper-1", "region": "us"},
                        {"provider": "eu-stt", "model": "whisper-1", "region": "eu"}],
        "routes": {"chat": {"candidates": ["us/m", "eu/m"]},
                   "us-only": {"candidates": ["us/m"]},
                   "stt": {"candidates": ["us-stt/whisper-1", "eu-stt/whisper-1"]},
                   "stt-us": {"candidates": ["us-stt/whisper-1"]}},
        "keys": [
            {"name": "anyone", "key_env": "K_ANYONE"},
            {"name": "eu", "key_env": "K_EU", "region": "eu", "region_policy": "require"},
            {"name": "eu-pref", "key_env": "K_EU_PREF", "region": "eu"},
        ],
    })
    environ = {"K_ANYONE": KEYS["anyone"], "K_EU": KEYS["eu"], "K_EU_PREF": KEYS["eu-pref"]}
    served = loop.run(start_gateway(cfg, store_url, environ))
    try:
        yield Env(loop, served, *fakes)
    finally:
        loop.run(stop_gateway(served))
        for f in fakes:
            loop.run(f.close())
        loop.close()


def chat(env: Env, key: str, model: str = "chat", region: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEYS[key]}"}
    if region is not None:
        headers["x-axtui-region"] = region
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{env.served.base_url}/chat/completions", json=body, headers=headers,
                      timeout=10)


def answer(r: httpx.Response) -> str:
    return r.json()["choices"][0]["message"]["content"]


def test_the_region_header_steers_a_request_to_its_region(env):
    assert answer(chat(env, "anyone")) == "from us"  # priority order without a region
    assert answer(chat(env, "anyone", region="EU")) == "from eu"  # names are lower-cased


def test_a_keys_region_steers_its_requests_and_the_record_says_where(env):
    r = chat(env, "eu-pref")
    assert answer(r) == "from eu"
    rid = r.headers["x-request-id"]
    rec = wait_for_records(env.served.store_url, lambda x: x.id == rid)[0]
    assert rec.region == "eu"


def test_a_key_requiring_its_region_gets_a_400_naming_it_on_a_route_without_one(env):
    calls = len(env.us.requests)
    r = chat(env, "eu", model="us-only")
    assert r.status_code == 400
    assert "region eu" in r.json()["error"]["message"]
    assert len(env.us.requests) == calls  # never served elsewhere


def test_the_header_cannot_move_a_key_that_requires_its_region(env):
    r = chat(env, "eu", region="us")
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert "region eu" in msg and "us" in msg
    assert answer(chat(env, "eu", region="eu")) == "from eu"


def transcribe(env: Env, key: str, model: str) -> httpx.Response:
    return httpx.post(f"{env.served.base_url}/audio/transcriptions",
                      headers={"authorization": f"Bearer {KEYS[key]}"},
                      data={"model": model, "response_format": "json"},
                      files={"file": ("talk.wav", wav(), "audio/wav")}, timeout=10)


def test_a_transcription_keeps_to_the_keys_region(env):
    assert transcribe(env, "anyone", "stt").json()["text"] == "heard in us"
    assert transcribe(env, "eu", "stt").json()["text"] == "heard in eu"


def test_a_transcription_whose_required_region_has_no_deployment_is_a_400(env):
    r = transcribe(env, "eu", "stt-us")
    assert r.status_code == 400 and "region eu" in r.json()["error"]["message"]


# keys made by `axtui keys create --region R [--region-policy P]`, into the gateway's store

CLI_CONFIG = ('[providers.us]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
              '[providers.eu]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
              '[[deployments]]\nprovider = "us"\nmodel = "m"\nregion = "us"\n'
              '[[deployments]]\nprovider = "eu"\nmodel = "m"\nregion = "eu"\n'
              '[routes.chat]\ncandidates = ["us/m", "eu/m"]\n')


def cli_key(env: Env, tmp_path, name: str, *region_args: str) -> str:
    """A key made with the CLI, once the gateway serves it (a control poll away)."""
    import json
    import time

    from typer.testing import CliRunner

    from axtui.cli.main import app

    config = tmp_path / "axtui.toml"
    config.write_text(CLI_CONFIG)
    made = CliRunner().invoke(app, ["keys", "create", "--name", name, *region_args,
                                    "--config", str(config), "--store",
                                    env.served.store_url, "--json"])
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)["key"]
    deadline = time.monotonic() + 5
    while raw_chat(env, key).status_code == 401:
        assert time.monotonic() < deadline, "the gateway never learned the new key"
        time.sleep(0.02)
    return key


def raw_chat(env: Env, key: str, model: str = "chat", region: str | None = None):
    headers = {"authorization": f"Bearer {key}"}
    if region is not None:
        headers["x-axtui-region"] = region
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{env.served.base_url}/chat/completions", json=body, headers=headers,
                      timeout=10)


def test_a_cli_key_with_a_region_is_served_there_when_the_request_names_none(env, tmp_path):
    key = cli_key(env, tmp_path, "cli-eu-pref", "--region", "eu")
    assert answer(raw_chat(env, key)) == "from eu"
    assert answer(raw_chat(env, key, model="us-only")) == "from us"  # prefer: served still
    assert answer(raw_chat(env, key, region="us")) == "from us"  # a header names its own


def test_a_cli_key_requiring_its_region_is_never_served_elsewhere(env, tmp_path):
    key = cli_key(env, tmp_path, "cli-eu-req", "--region", "eu", "--region-policy", "require")
    assert answer(raw_chat(env, key)) == "from eu"
    calls = len(env.us.requests)
    for r in (raw_chat(env, key, model="us-only"), raw_chat(env, key, region="us")):
        assert r.status_code == 400 and "region eu" in r.json()["error"]["message"]
    assert len(env.us.requests) == calls
