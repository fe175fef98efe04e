"""Where a faithful replay writes: rollups alone into a headless replay's scratch store (the
default there), or rows and rollups from a thread of this process (the default for a store a
console follows), this thread, or a child process; the rollups end the same every way, and a
writer that fails is an error."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import func, select

from axtui.config import load_config
from axtui.store.db import open_store
from axtui.store.tables import RequestRow, rollup_table
from axtui.traces.replay import writer
from axtui.traces.replay.run import ReplayOptions, replay
from tests.traces.replay_helpers import cut


def stored(url: str) -> tuple:
    store = open_store(url)
    try:
        with store.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(RequestRow)).scalar()
            cost = conn.execute(select(func.sum(RequestRow.cost_nano))).scalar()
            rollups = conn.execute(select(rollup_table.c.res, func.sum(rollup_table.c.requests),
                                          func.sum(rollup_table.c.attempts))
                                   .group_by(rollup_table.c.res)).all()
        return rows, cost, sorted(map(tuple, rollups))
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["inline", "thread"])
def test_every_writer_in_this_process_stores_the_same(tmp_path, monkeypatch, kind):
    trace = str(cut("provider-outage", 4500, tmp_path / "t.jsonl.gz"))
    here = f"sqlite:///{tmp_path / 'here.db'}"
    monkeypatch.setenv("AXTUI_REPLAY_WRITER", "child")
    first = replay(ReplayOptions(trace=trace, config=load_config(), store_url=here))
    monkeypatch.setenv("AXTUI_REPLAY_WRITER", kind)
    made = []
    real = writer.make_writer
    monkeypatch.setattr(writer, "make_writer", lambda *a, **k: made.append(real(*a, **k))
                        or made[-1])
    there = f"sqlite:///{tmp_path / 'there.db'}"
    out = replay(ReplayOptions(trace=trace, config=load_config(), store_url=there))
    assert type(made[0]).__name__ == {"inline": "InlineWriter", "thread": "ThreadWriter"}[kind]
    assert out == first
    assert stored(there) == stored(here)
    assert stored(there)[0] == 4500


def test_the_child_writer_stores_what_this_process_stores(tmp_path, monkeypatch):
    trace = str(cut("provider-outage", 1200, tmp_path / "t.jsonl.gz"))
    here = f"sqlite:///{tmp_path / 'here.db'}"
    inline = replay(ReplayOptions(trace=trace, config=load_config(), store_url=here))
    monkeypatch.setenv("AXTUI_REPLAY_WRITER", "child")
    child = f"sqlite:///{tmp_path / 'child.db'}"
    spawned = []
    real = writer.ChildWriter
    monkeypatch.setattr(writer, "ChildWriter", lambda url: spawned.append(url) or real(url))
    out = replay(ReplayOptions(trace=trace, config=load_config(), store_url=child))
    assert spawned == [child]
    assert out == inline  # the same alerts, breakers, gates and summary
    assert stored(child) == stored(here)
    assert stored(child)[0] == 1200


def test_a_writer_child_that_dies_is_an_error_not_silence(tmp_path):
    w = writer.ChildWriter(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        w.sync()  # up and answering
        os.kill(w.pid, signal.SIGKILL)
        w.add({}, b'{"id": "x"}')
        with pytest.raises(writer.StoreWriteError, match="exited"):
            w.sync()
    finally:
        w.close()


@pytest.mark.parametrize("kind", ["thread", "child"])
def test_a_record_the_store_refuses_stops_the_replay_with_the_stores_reason(tmp_path,
                                                                            monkeypatch, kind):
    from tests.store.factory import T0, record
    from tests.traces.replay_helpers import write

    twice = [record(id="same", started_at=T0), record(id="same", started_at=T0 + 1)]
    trace = str(write(tmp_path / "t.jsonl", twice))
    monkeypatch.setenv("AXTUI_REPLAY_WRITER", kind)
    with pytest.raises(writer.StoreWriteError, match="UNIQUE constraint failed: request.id"):
        replay(ReplayOptions(trace=trace, config=load_config()))


def test_the_writer_thread_gives_the_switch_interval_back(tmp_path):
    import sys

    before = sys.getswitchinterval()
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        w = writer.make_writer(store, str(store.engine.url))
        assert isinstance(w, writer.ThreadWriter)
        assert sys.getswitchinterval() < before
        w.close()
    finally:
        store.close()
    assert sys.getswitchinterval() == before


def test_a_writer_that_is_no_writer_is_refused_with_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "AXTUI_REPLAY_WRITER": "bogus"}
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "replay", "normal-day",
                           "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: AXTUI_REPLAY_WRITER='bogus': expected one of rollups, thread, inline, child"]


def test_a_headless_replay_writes_rollups_alone_and_says_what_a_full_write_says(tmp_path,
                                                                               monkeypatch):
    trace = str(cut("provider-outage", 4500, tmp_path / "t.jsonl.gz"))
    full = f"sqlite:///{tmp_path / 'full.db'}"
    with_rows = replay(ReplayOptions(trace=trace, config=load_config(), store_url=full))
    made = []
    real = writer.make_writer
    monkeypatch.setattr(writer, "make_writer", lambda *a, **k: made.append(real(*a, **k))
                        or made[-1])
    headless = replay(ReplayOptions(trace=trace, config=load_config()))
    assert type(made[0]).__name__ == "RollupWriter"
    assert headless == with_rows  # the same alerts, breakers, gates and summary


def test_the_rollup_writer_stores_the_rollups_a_full_write_stores_and_no_rows(tmp_path,
                                                                            monkeypatch):
    trace = str(cut("provider-outage", 4500, tmp_path / "t.jsonl.gz"))
    full = f"sqlite:///{tmp_path / 'full.db'}"
    first = replay(ReplayOptions(trace=trace, config=load_config(), store_url=full))
    monkeypatch.setenv("AXTUI_REPLAY_WRITER", "rollups")
    rolled = f"sqlite:///{tmp_path / 'rollups.db'}"
    assert replay(ReplayOptions(trace=trace, config=load_config(), store_url=rolled)) == first
    rows, cost, rollups = stored(rolled)
    assert (rows, cost) == (0, None)
    assert rollups == stored(full)[2]
    store = open_store(rolled)
    try:
        assert store.counter("recorder.written") == 4500
    finally:
        store.close()


def test_a_rollup_write_the_store_refuses_stops_the_replay_with_the_stores_reason(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        w = writer.make_writer(store, str(store.engine.url), scratch=True)
        assert isinstance(w, writer.RollupWriter)
        with store.begin() as conn:
            conn.execute(rollup_table.delete())
            conn.exec_driver_sql(f"DROP TABLE {rollup_table.name}")
        from tests.store.factory import record

        w.add(record(id="a"), b"")
        with pytest.raises(writer.StoreWriteError, match="no such table"):
            w.sync()
        w.close()  # says so in the log; never raises
    finally:
        store.close()


def test_every_window_read_at_an_evaluation_sees_what_a_full_write_would_show(tmp_path):
    """The rollup writer holds hours and days back until a read could see them: at each
    evaluation instant, every window (an hour, six, three days: the SLOs' and budgets') reads
    the same totals from its store as from one given every resolution at once."""
    from axtui.store.rollups import RollupDelta, apply_delta
    from axtui.store.windows import scope_totals
    from tests.store.factory import T0, attempt, record

    held = open_store(f"sqlite:///{tmp_path / 'held.db'}")
    full = open_store(f"sqlite:///{tmp_path / 'full.db'}")
    w = writer.RollupWriter(held)
    delta = RollupDelta()
    try:
        for i in range(1, 5 * 3600 // 45):  # five hours, a record every 45 s
            t = T0 + 1800 + i * 45.0  # half past: hours end mid-run
            late = t - 3700 if i % 50 == 0 else t  # now and then a record an hour late
            r = record(started_at=late, attempts=[attempt(started_at=late)])
            w.add(r, b"")
            delta.add(r)
            if i % 20 == 0:  # an evaluation, every 15 minutes of trace time
                w.sync(t)
                with full.begin() as conn:
                    apply_delta(conn, delta)
                delta = RollupDelta()
                for span in (3600, 6 * 3600, 3 * 86400):
                    seen = []
                    for store in (held, full):
                        with store.connect() as conn:
                            seen.append(scope_totals(conn, t - span, t,
                                                     counters=("requests", "cost_nano"),
                                                     series=("request",)))
                    assert seen[0] == seen[1] and seen[0][0].counters["requests"] > 0
        w.sync()
        with full.begin() as conn:
            apply_delta(conn, delta)
        assert stored(f"sqlite:///{tmp_path / 'held.db'}")[2] == \
            stored(f"sqlite:///{tmp_path / 'full.db'}")[2]
    finally:
        held.close()
        full.close()


def test_a_headless_replay_keeps_rows_when_a_budget_per_user_sums_them(tmp_path):
    """A user's spend is summed from the request rows, not the rollups: a headless replay
    whose config has a budget per user fires its alerts as a replay into a full store does
    (its scratch store then gets rows), and a counterfactual's scratch store gets rows too."""
    from axtui.config import BudgetConfig

    cfg = load_config()
    cfg = cfg.model_copy(update={"budgets": [
        *cfg.budgets, BudgetConfig(scope="user:*", limit_usd="0.01")]})
    trace = str(cut("normal-day", 1000, tmp_path / "t.jsonl.gz"))
    headless = replay(ReplayOptions(trace=trace, config=cfg))
    full = replay(ReplayOptions(trace=trace, config=cfg,
                                store_url=f"sqlite:///{tmp_path / 'full.db'}"))
    assert "budget:user:day:100[*]" in headless["alerts"]["rules"]
    assert headless == full
    cf = replay(ReplayOptions(trace=trace, config=cfg, mode="counterfactual"))
    assert "budget:user:day:100[*]" in cf["counterfactual"]["alerts"]["rules"]
