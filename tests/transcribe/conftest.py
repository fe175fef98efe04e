"""One running gateway per test module in front of loopback transcription upstreams:
OpenAI (whisper-1), Groq (whisper-large-v3), OpenAI gpt-4o-transcribe (token usage, streams),
one that always fails, one that takes only mp3, one that takes only tiny files, one slow, one
whose streams break after their first event."""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.transcription_upstream import TranscriptionUpstream
from tests.gateway.harness import (
    LoopThread,
    Served,
    deployment,
    make_config,
    openai_provider,
    start_gateway,
    stop_gateway,
)

WHISPER_KEY_ENV = "AXTUI_TEST_WHISPER_KEY"
WHISPER_SECRET = "sk-whisper-upstream-secret-0123456789"


def wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A silent mono 16-bit WAV of `seconds`."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


@dataclass
class Env:
    loop: LoopThread
    served: Served
    whisper: TranscriptionUpstream
    groq: TranscriptionUpstream
    gpt4o: TranscriptionUpstream
    dead: TranscriptionUpstream
    picky: TranscriptionUpstream
    tiny: TranscriptionUpstream
    slow: TranscriptionUpstream
    cutter: TranscriptionUpstream
    chat: OpenAIUpstream

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def store_url(self) -> str:
        return self.served.store_url

    def client(self, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.served.base_url, api_key="none", max_retries=0,
                             timeout=15, **kw)


def config_data(f: dict[str, Any], store_url: str) -> dict[str, Any]:
    def prov(name: str) -> dict[str, Any]:
        return openai_provider(f[name].base_url)

    return {
        "store": {"url": store_url, "flush_interval_s": 0.05},
        "providers": {
            "openai": {**prov("whisper"), "api_key_env": WHISPER_KEY_ENV},
            "groq": prov("groq"), "openai4o": prov("gpt4o"), "dead": prov("dead"),
            "picky": prov("picky"), "tiny": prov("tiny"), "slow": prov("slow"),
            "cutter": prov("cutter"), "chat": prov("chat"),
        },
        "deployments": [
            {"provider": "openai", "model": "whisper-1"},
            {"provider": "groq", "model": "whisper-large-v3"},
            {"provider": "openai4o", "model": "gpt-4o-transcribe"},
            {"provider": "dead", "model": "whisper-large-v3"},
            {"provider": "picky", "model": "whisper-large-v3", "audio": {"formats": ["mp3"]}},
            {"provider": "tiny", "model": "whisper-1", "audio": {"max_mb": "0.001"}},
            {"provider": "slow", "model": "whisper-1"},
            {"provider": "cutter", "model": "gpt-4o-mini-transcribe"},
            deployment("chat", "gpt-x"),
        ],
        "routes": {
            "stt": {"candidates": ["dead/whisper-large-v3", "openai/whisper-1"],
                    "strategy": "priority"},
            "stt-openai": {"candidates": ["openai/whisper-1"]},
            "stt-groq": {"candidates": ["groq/whisper-large-v3"]},
            "stt-4o": {"candidates": ["openai4o/gpt-4o-transcribe"]},
            "stt-picky": {"candidates": ["picky/whisper-large-v3", "openai/whisper-1"],
                          "strategy": "priority"},
            "stt-tiny": {"candidates": ["tiny/whisper-1"]},
            "stt-slow": {"candidates": ["slow/whisper-1"]},
            "stt-4o-failover": {"candidates": ["dead/whisper-large-v3",
                                               "openai4o/gpt-4o-transcribe"],
                                "strategy": "priority"},
            "stt-cut": {"candidates": ["cutter/gpt-4o-mini-transcribe"]},
            "chat": {"candidates": ["chat/gpt-x"]},
        },
        "rules": [{"match": {"route": "stt", "tag": "groq"}, "route": "stt-groq"}],
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    loop = LoopThread()
    os.environ[WHISPER_KEY_ENV] = WHISPER_SECRET
    fakes: dict[str, Any] = {
        "whisper": TranscriptionUpstream(text="Hello from whisper.", api_key=WHISPER_SECRET),
        "groq": TranscriptionUpstream(text="Hello from groq."),
        "gpt4o": TranscriptionUpstream(text="Hello from gpt-4o.", tokens=(100, 10, 50),
                                       streams=True),
        "dead": TranscriptionUpstream(),
        "picky": TranscriptionUpstream(text="Hello from picky."),
        "tiny": TranscriptionUpstream(),
        "slow": TranscriptionUpstream(latency_s=5.0),
        "cutter": TranscriptionUpstream(text="Cut short here.", tokens=(10, 0, 5),
                                        streams=True),
        "chat": OpenAIUpstream(),
    }
    fakes["dead"].fail(500)
    fakes["cutter"].cut_after = 1  # the connection closes after the first event
    for f in fakes.values():
        loop.run(f.start())
    store_url = f"sqlite:///{tmp_path_factory.mktemp('transcribe')}/gw.db"
    served = loop.run(start_gateway(make_config(config_data(fakes, store_url)), store_url))
    try:
        yield Env(loop, served, **fakes)
    finally:
        loop.run(stop_gateway(served))
        for f in fakes.values():
            loop.run(f.close())
        loop.close()
        os.environ.pop(WHISPER_KEY_ENV, None)
