"""The demo's transcription route on the sim (virtual time), and the console's views of a
store that holds transcription records beside chat ones."""

from __future__ import annotations

from axtui.cli.status_text import render
from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.costs.summary import summary
from axtui.engine.engine import Engine, RequestContext
from axtui.providers.audio import TranscriptionRequest
from axtui.providers.sim_audio import render as render_format
from axtui.records import RequestRecord
from axtui.snapshot.build import build_snapshot
from axtui.store import open_store

from .conftest import wav


def demo_transcriptions(n: int, fmt: str = "json") -> list[RequestRecord]:
    """`n` transcriptions of a 3 s WAV on the demo's `transcribe` route, one after another."""
    clock = VirtualClock()
    records: list[RequestRecord] = []

    async def main() -> None:
        engine = Engine(load_config(None), clock=clock, seed=7)
        engine.on_record(records.append)
        audio = wav(3.0)
        for _ in range(n):
            req = TranscriptionRequest(audio, "clip.wav", "wav", model="transcribe",
                                       response_format=fmt)
            await engine.transcriptions.run(req, RequestContext())
        await engine.aclose()

    clock.run(main())
    return records


def test_the_demo_route_fails_over_from_groqs_whisper_now_and_then():
    records = demo_transcriptions(60)
    assert len(records) == 60 and all(r.ok for r in records)
    failed_over = [r for r in records if len(r.attempts) == 2]
    assert failed_over, "groq's whisper fails 15% of calls: some must fail over"
    for r in failed_over:
        assert r.attempts[0].deployment == "groq/whisper-large-v3"
        assert r.attempts[0].error_kind == "server"
        assert r.deployment == "openai/whisper-1"
        assert r.cost_nano == 300_000  # 3 s at $0.006 a minute
    served_by_groq = [r for r in records if r.deployment == "groq/whisper-large-v3"]
    assert served_by_groq and all(r.cost_nano == 308_333 for r in served_by_groq)
    assert all(r.kind == "transcription" and r.audio_s == 3.0 for r in records)


def test_the_sim_answers_each_format_as_openai_lays_it_out():
    srt = demo_transcriptions(1, "srt")
    assert srt[0].ok
    words = ["one", "two", "three"]
    assert render_format("srt", words, 1.5, [], None) == (
        b"1\n00:00:00,000 --> 00:00:01,500\none two three\n\n")
    assert render_format("vtt", words, 1.5, [], None) == (
        b"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\none two three\n\n")
    assert render_format("text", words, 1.5, [], None) == b"one two three\n"


def test_snapshot_costs_and_status_read_transcription_records(tmp_path):
    records = demo_transcriptions(20)
    cfg = load_config(None)
    store = open_store(f"sqlite:///{tmp_path / 'axtui.db'}",
                       clock=VirtualClock(start=records[-1].ended_at + 1))
    try:
        store.write_records(records)
        now = records[-1].ended_at + 1
        snap = build_snapshot(store, cfg, now)
        [route] = [r for r in snap.routes if r.name == "transcribe"]
        assert route.requests == 20
        assert "openai/whisper-1" in render(snap)  # the status text lists deployments
        costs = summary(store, now, config=cfg)
        assert costs.today_nano == sum(r.cost_nano for r in records)
        [back] = store.recent_records(limit=1)
        assert back.kind == "transcription" and back.audio_s == 3.0
    finally:
        store.close()


def test_the_capability_probe_transcribes_on_a_transcription_deployment():
    from axtui.cli.probe import probe_all

    clock = VirtualClock()
    [r] = clock.run(probe_all(load_config(None), "openai/whisper-1", clock=clock))
    assert r.reachable and r.completion.detail == "transcribed 1 s of silence"
    assert not r.has_drift  # no chat capabilities claimed, none probed


def test_a_transcription_deployment_that_keeps_failing_trips_its_breaker_and_is_skipped():
    """The route's breakers apply to transcriptions as to chat: after the demo's
    `consecutive_failures` (5) failures groq's whisper opens, and the next requests go
    straight to whisper-1 (one attempt each) until it may be tried again."""
    import tomllib
    from importlib import resources

    from axtui.config import parse_config

    data = tomllib.loads(resources.files("axtui.fixtures").joinpath("demo.toml")
                        .read_text("utf-8"))
    [groq] = [d for d in data["deployments"] if d["model"] == "whisper-large-v3"]
    groq["sim"] = {**groq["sim"], "errors": {"server": 1.0}}
    cfg = parse_config(data, "demo.toml, groq's whisper always failing")
    clock = VirtualClock()
    records: list[RequestRecord] = []
    events: list[tuple[str, str, dict]] = []

    async def main() -> None:
        engine = Engine(cfg, clock=clock, seed=7)
        engine.on_record(records.append)
        engine.on_event(lambda kind, subject, detail: events.append((kind, subject, detail)))
        for _ in range(8):
            req = TranscriptionRequest(wav(1.0), "clip.wav", "wav", model="transcribe")
            await engine.transcriptions.run(req, RequestContext())
        await engine.aclose()

    clock.run(main())
    assert all(r.ok and r.deployment == "openai/whisper-1" for r in records)
    assert [len(r.attempts) for r in records] == [2, 2, 2, 2, 2, 1, 1, 1]
    assert ("breaker", "groq/whisper-large-v3") in [(k, s) for k, s, _ in events]
    opened = [d for k, s, d in events if s == "groq/whisper-large-v3"]
    assert opened[0]["to"] == "open"
