"""The demo's data: a child process (`axtui demo --live`) routes live traffic into a fresh
store, the console's feed reads it, and closing the feed stops the child in order."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from axtui.tui.feed import demo_feed

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_child_writes_live_records_the_feed_reads_and_stops_cleanly(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the child imports this checkout
    feed = demo_feed(rate=20.0)
    workdir = feed.children[0].log_path.parent
    feed.start()
    try:
        seen, deadline = [], time.monotonic() + 90  # a loaded CI machine starts slowly
        while time.monotonic() < deadline and len(seen) < 10:
            frame = feed.fetch()
            seen.extend(frame.tail)
            time.sleep(0.3)
        assert len(seen) >= 10, (workdir / "demo.log").read_text()
        assert frame.snapshot.store_url.endswith("demo.db")
        # real time, not virtual
        assert abs(frame.snapshot.pulse.last_record_at - time.time()) < 120
        from axtui.config import load_config

        # the demo's routes: `14:03:22.114 chat → ...`
        assert {t.text.split()[1] for t in seen} <= set(load_config(None).routes)
    finally:
        feed.close()
    child = feed.children[0].proc
    assert child.returncode == 0, (workdir / "demo.log").read_text() if workdir.exists() else ""
    assert not workdir.exists()  # the fresh store goes with the console


def test_a_child_that_dies_turns_the_feed_into_a_one_line_error(tmp_path, monkeypatch):
    import sys

    from axtui.config import load_config
    from axtui.tui.feed import Child, FeedError, StoreFeed

    feed = StoreFeed(f"sqlite:///{tmp_path / 's.db'}", load_config(None), "LIVE", children=[
        Child([sys.executable, "-c", "import sys; sys.exit(3)", "demo"], tmp_path / "c.log")])
    feed.start()
    feed.children[0].proc.wait(30)
    with pytest.raises(FeedError, match="exited with code 3") as failed:
        feed.fetch()
    feed.close()
    assert str(tmp_path / "c.log") in str(failed.value)
