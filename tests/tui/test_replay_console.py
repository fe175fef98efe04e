"""`axtui replay --tui`: the console over a replay's store, its header REPLAY ×N, space
pausing the replay (not the screen), n stepping, + and - changing the speed, and snapshots
taken at the replay's trace time."""

from __future__ import annotations

from axtui.config import load_config
from axtui.traces.replay.pace import CONTROL, ReplayControl, write_json
from axtui.traces.replay.run import ReplayOptions, replay
from axtui.tui.app import ConsoleApp
from axtui.tui.replay_feed import ReplayFeed
from tests.traces.replay_helpers import cut
from tests.tui.conftest import screen_text
from tests.tui.test_producer import wait_until


def replayed_store(tmp_path) -> tuple[str, float]:
    """A store a faithful replay of 5 minutes of normal-day wrote; (url, its last time)."""
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    trace = cut("normal-day", 600, tmp_path / "t.jsonl.gz")
    out = replay(ReplayOptions(trace=str(trace), config=load_config(), store_url=url))
    return url, out["window"]["end"]


def test_snapshots_are_taken_at_the_replays_trace_time(tmp_path):
    url, end = replayed_store(tmp_path)
    control = ReplayControl(tmp_path, 60.0)
    write_json(tmp_path / "progress.json", {"now": end, "done": False})
    feed = ReplayFeed(url, load_config(), control.label(), "t", replay=control)
    snap = feed.fetch().snapshot
    assert snap.taken_at == end
    assert snap.pulse.requests > 0  # the last minute of the trace, not of the wall clock
    feed.close()


async def test_the_header_says_replay_and_the_keys_pause_step_and_change_speed(tmp_path):
    url, end = replayed_store(tmp_path)
    control = ReplayControl(tmp_path, 60.0)
    write_json(tmp_path / "progress.json", {"now": end, "done": False})
    feed = ReplayFeed(url, load_config(), control.label(), "t.jsonl.gz", replay=control)
    app = ConsoleApp(feed, refresh_s=0.1)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_until(pilot, lambda: app.frame is not None)
        assert "REPLAY \u00d760" in screen_text(app).splitlines()[0]
        await pilot.press("space")
        await wait_until(pilot, lambda: "PAUSED" in screen_text(app).splitlines()[0])
        assert '"paused": true' in (tmp_path / CONTROL).read_text()
        assert app.paused is False  # the screen keeps following the replay
        await pilot.press("n")
        assert '"steps": 1' in (tmp_path / CONTROL).read_text()
        await pilot.press("plus")
        await wait_until(pilot, lambda: "REPLAY \u00d7120" in screen_text(app).splitlines()[0])
        await pilot.press("minus", "minus")
        await wait_until(pilot, lambda: "REPLAY \u00d730" in screen_text(app).splitlines()[0])
    feed.close()
