"""Flag gates in a faithful replay: judged every 60 s of trace time (as `flags validate
--watch` does live), each change of verdict and the rollback the watch would have made
in the timeline; the counts match the gates' own judge over the same records."""

from __future__ import annotations

import pytest

from axtui.config import load_config
from axtui.flags.gates import judge
from axtui.flags.model import FlagState
from axtui.records import ErrorKind
from axtui.traces.jsonl import read_trace
from axtui.traces.replay.run import ReplayOptions, replay
from tests.store.factory import T0, attempt, record
from tests.traces.replay_helpers import cut, write

FLAG = "flash_lite_chat"  # the demo config's: min_samples 20, rollback_after 3 -> kill


def flagged(seconds: int, *, cohort_fails: bool) -> list:
    """Two requests a second; even users in the flag's cohort (failing, if told)."""
    out = []
    for i in range(seconds * 2):
        at = T0 + i / 2
        inside = i % 2 == 0
        kind = ErrorKind.server if inside and cohort_fails else None
        r = record(started_at=at, user=f"u{i % 40}",
                   attempts=[attempt("gemini/gemini-2.0-flash-lite" if inside
                                     else "openai/gpt-4o-mini", started_at=at,
                                     error_kind=kind)])
        out.append(r.model_copy(update={"flags": {FLAG: "on" if inside else "off"}}))
    return out


def gate_moments(out: dict) -> list[tuple]:
    return [(m["at_s"], m["from"], m["to"]) for m in out["timeline"]
            if m["kind"] == "gate" and m["subject"] == FLAG]


def test_a_failing_cohort_turns_no_go_and_is_killed_after_three_watches(tmp_path):
    path = write(tmp_path / "t.jsonl", flagged(300, cohort_fails=True))
    out = replay(ReplayOptions(trace=str(path), config=load_config()))
    assert gate_moments(out) == [(60.0, "inconclusive", "no-go"), (180.0, "no-go", "killed")]
    kill = next(m for m in out["timeline"] if m["kind"] == "gate" and m["to"] == "killed")
    assert "gates failed 3 times in a row" in kill["detail"]
    assert out["gates"][FLAG]["rolled_back"] is True


def test_a_flag_with_too_little_data_stays_inconclusive_and_silent(tmp_path):
    path = write(tmp_path / "t.jsonl", flagged(8, cohort_fails=True))  # 8 per side < 20
    out = replay(ReplayOptions(trace=str(path), config=load_config()))
    assert gate_moments(out) == []
    assert out["gates"][FLAG]["verdict"] == "inconclusive"


def test_gate_verdicts_fall_on_the_watch_interval(tmp_path):
    path = write(tmp_path / "t.jsonl", flagged(300, cohort_fails=True))
    out = replay(ReplayOptions(trace=str(path), config=load_config()))
    assert all(m["at_s"] % 60 == 0 for m in out["timeline"] if m["kind"] == "gate")


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    path = cut("provider-outage", 1800, tmp_path_factory.mktemp("g") / "outage.jsonl.gz")
    return path, replay(ReplayOptions(trace=str(path), config=load_config()))


def test_the_streamed_sides_count_what_the_gates_judge_counts(outage):
    path, out = outage
    cfg = load_config()
    start = out["window"]["start"]
    state = FlagState.seeded(FLAG, cfg.flags[FLAG], by="t", now=start)
    expected = judge(state, read_trace(path).records, start, out["window"]["end"])
    got = out["gates"][FLAG]
    for side, want in (("cohort", expected.cohort), ("baseline", expected.baseline)):
        assert got[side]["requests"] == want.requests
        assert got[side]["error_rate"] == want.error_rate
        assert got[side]["cost_per_request_nano"] == want.cost_per_request_nano
        assert got[side]["p95_ms"] == pytest.approx(want.p95_ms, rel=0.02)  # a histogram's
    assert got["verdict"] == expected.verdict
