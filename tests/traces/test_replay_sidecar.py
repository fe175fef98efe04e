"""A headless faithful replay counts its summary and flag gates in a child process that reads
the trace again (sidecar.py): it says exactly what the one-process replay says, and a child
that fails is the replay's error, never a smaller summary."""

from __future__ import annotations

import os
import signal

import pytest

from axtui.config import load_config
from axtui.traces.replay import sidecar
from axtui.traces.replay.run import ReplayOptions, replay
from tests.traces.replay_helpers import cut


@pytest.mark.parametrize("name", ["normal-day", "provider-outage", "rate-limit-storm"])
def test_the_sidecar_replay_says_byte_for_byte_what_the_one_process_replay_says(
        monkeypatch, name):
    monkeypatch.setenv(sidecar.ENV, "off")
    alone = replay(ReplayOptions(trace=name, config=load_config()))
    monkeypatch.setenv(sidecar.ENV, "on")
    started = []
    real = sidecar.Sidecar
    monkeypatch.setattr(sidecar, "Sidecar", lambda *a: started.append(a) or real(*a))
    beside = replay(ReplayOptions(trace=name, config=load_config()))
    assert len(started) == 1
    assert beside == alone
    assert beside["gates"] and beside["timeline"]  # something to have got right


def test_a_paced_replay_counts_everything_in_its_own_process(monkeypatch, tmp_path):
    monkeypatch.setenv(sidecar.ENV, "on")
    monkeypatch.setattr(sidecar, "Sidecar", lambda *a: pytest.fail("a paced run forked"))
    trace = str(cut("provider-outage", 300, tmp_path / "t.jsonl.gz"))
    out = replay(ReplayOptions(trace=trace, config=load_config(), speed=1e9))
    assert out["summary"]["requests"] == 300


def test_a_sidecar_that_dies_is_an_error_naming_its_exit(tmp_path):
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)  # the child waits on it for good: it is killed there
    car = sidecar.Sidecar(str(fifo), load_config(), 15.0)
    try:
        os.kill(car.pid, signal.SIGKILL)
        with pytest.raises(sidecar.SidecarError, match=r"summary process exited \(code -9\)"):
            car.result()
    finally:
        car.close()


def test_a_sidecar_that_fails_stops_the_replay_with_its_reason_in_one_line(monkeypatch,
                                                                          tmp_path):
    monkeypatch.setenv(sidecar.ENV, "on")
    real = sidecar.Sidecar
    gone = str(tmp_path / "moved-away.jsonl")
    monkeypatch.setattr(sidecar, "Sidecar", lambda path, config, every, limit: real(
        gone, config, every, limit))
    trace = str(cut("provider-outage", 300, tmp_path / "t.jsonl.gz"))
    with pytest.raises(sidecar.SidecarError) as caught:
        replay(ReplayOptions(trace=trace, config=load_config()))
    assert str(caught.value).startswith("the replay's summary process failed: "
                                        "FileNotFoundError: ")
    assert gone in str(caught.value) and "\n" not in str(caught.value)


def test_the_sidecar_is_off_when_asked_on_one_core_and_for_a_pipe(monkeypatch, tmp_path):
    trace = str(cut("provider-outage", 10, tmp_path / "t.jsonl.gz"))
    monkeypatch.setenv(sidecar.ENV, "off")
    assert not sidecar.wanted(trace)
    monkeypatch.delenv(sidecar.ENV)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not sidecar.wanted(trace)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert sidecar.wanted(trace)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert not sidecar.wanted(str(fifo))  # a pipe can be read once: never by two processes


def test_a_trace_still_being_appended_is_replayed_as_it_was_by_both_processes(monkeypatch,
                                                                              tmp_path):
    """`serve --trace-out` may still be writing the trace: the replay reads the bytes the
    file held when it began, and so does its sidecar (else their counts would differ)."""
    import gzip

    from axtui.traces import jsonl

    whole = gzip.decompress(cut("provider-outage", 400, tmp_path / "t.jsonl.gz").read_bytes())
    lines = whole.splitlines(keepends=True)
    trace = tmp_path / "live.jsonl"
    trace.write_bytes(b"".join(lines))  # the header and 400 records: it grew meanwhile
    began = len(b"".join(lines[:301]))  # what it held when the replay began: 300 records
    monkeypatch.setattr(jsonl, "plain_size", lambda path: began)
    monkeypatch.setattr("axtui.traces.replay.run.plain_size", lambda path: began)
    monkeypatch.setenv(sidecar.ENV, "on")
    started = []
    real = sidecar.Sidecar
    monkeypatch.setattr(sidecar, "Sidecar", lambda *a: started.append(a) or real(*a))
    out = replay(ReplayOptions(trace=str(trace), config=load_config()))
    assert started and started[0][3] == began
    assert out["trace"]["records"] == 300 and out["summary"]["requests"] == 300


def test_plain_size_is_a_plain_files_length_and_none_for_gzip(tmp_path):
    from axtui.traces.jsonl import plain_size

    gz = cut("provider-outage", 10, tmp_path / "t.jsonl.gz")
    plain = tmp_path / "t.jsonl"
    plain.write_bytes(b'{"axtui_trace": 1}\n')
    assert plain_size(gz) is None
    assert plain_size(plain) == 19
    assert plain_size(tmp_path) is None


def test_a_replay_into_a_consoles_store_counts_everything_in_its_own_process(monkeypatch,
                                                                            tmp_path):
    monkeypatch.setenv(sidecar.ENV, "on")
    monkeypatch.setattr(sidecar, "Sidecar", lambda *a: pytest.fail("a store's replay forked"))
    trace = str(cut("provider-outage", 300, tmp_path / "t.jsonl.gz"))
    out = replay(ReplayOptions(trace=trace, config=load_config(),
                               store_url=f"sqlite:///{tmp_path / 'console.db'}"))
    assert out["summary"]["requests"] == 300
