"""The producer: frames come from a real store in a thread, one fetch at a time; a failed
fetch is a toast and a STALE badge, never a dead console."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from axtui.config import load_config
from axtui.store.db import open_store
from axtui.tui.app import ConsoleApp
from axtui.tui.feed import StoreFeed
from tests.store.factory import record
from tests.tui.conftest import screen_text
from tests.tui.snapshots_data import make_snapshot

REPO = Path(__file__).resolve().parents[2]


async def wait_until(pilot, condition, *, rounds: int = 400) -> None:
    """Let the app run until `condition()` holds (a signal, not a guessed sleep)."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition never held")


def store_with_records(tmp_path, n: int):
    url = f"sqlite:///{tmp_path / 'console.db'}"
    store = open_store(url)
    store.write_records([record(route="chat") for _ in range(n)])
    return url, store


def test_a_fetch_reads_the_snapshot_and_the_tail_after_the_snapshot_cursor(tmp_path):
    url, store = store_with_records(tmp_path, 3)
    feed = StoreFeed(url, load_config(None), "ATTACHED")
    first = feed.fetch()
    assert first.snapshot.tail_cursor == 3
    assert len(first.tail) == 3  # the backlog before the console opened
    store.write_records([record(route="chat-fast") for _ in range(2)])
    second = feed.fetch()
    assert [t.text.split()[1] for t in second.tail] == ["chat-fast", "chat-fast"]
    assert feed.fetch().tail == ()  # nothing new: nothing repeated
    feed.close()
    store.close()


def test_a_tail_more_than_a_page_behind_skips_ahead_and_counts_what_it_skipped(tmp_path,
                                                                             monkeypatch):
    from axtui.tui import feed as feed_mod

    monkeypatch.setattr(feed_mod, "TAIL_PAGE", 5)
    monkeypatch.setattr(feed_mod, "TAIL_BACKLOG", 2)
    url, store = store_with_records(tmp_path, 1)
    feed = StoreFeed(url, load_config(None), "ATTACHED")
    feed.fetch()
    store.write_records([record() for _ in range(12)])
    frame = feed.fetch()
    assert len(frame.tail) == 5 and frame.skipped == 7
    feed.close()
    store.close()


def test_a_tail_line_names_the_path_the_request_took_and_what_it_cost():
    from axtui.records import ErrorKind
    from axtui.tui.tail import record_line
    from tests.store.factory import attempt

    r = record(route="chat-fast", attempts=[
        attempt("groq/llama-3.1-8b-instant", error_kind=ErrorKind.server),
        attempt("openai/gpt-4o-mini", cost_nano=400_000)])
    line = record_line(r)
    assert "chat-fast → groq/llama-3.1-8b-instant 503 → openai/gpt-4o-mini 200" in line.text
    assert line.text.endswith("$0.0004 failover") and not line.bad


def test_an_unreadable_stored_record_is_one_bold_line_not_a_dead_feed():
    from axtui.tui.tail import tail_line

    assert tail_line(b'{"route": "chat"').bad
    line = tail_line(b'{"route": "chat"}')  # valid JSON, no ended_at
    assert line.bad and line.text.startswith("unreadable record (KeyError")


async def test_a_fresh_store_is_fetched_eagerly_until_its_first_record_shows(tmp_path):
    url, store = store_with_records(tmp_path, 0)
    app = ConsoleApp(StoreFeed(url, load_config(None), "LIVE", "test"), refresh_s=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.frames >= 3)  # 60 s refresh: only eager fetches
        assert not app.data_seen
        store.write_records([record(route="chat")])
        await wait_until(pilot, lambda: app.data_seen)
        seen_at = app.frames
        await pilot.pause(0.5)  # five eager periods: none comes once data was seen
        assert app.frames == seen_at
    app.feed.close()
    store.close()


async def test_the_console_shows_a_real_store_through_the_producer(tmp_path):
    url, store = store_with_records(tmp_path, 4)
    app = ConsoleApp(StoreFeed(url, load_config(None), "ATTACHED", "test"), refresh_s=0.05)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_until(pilot, lambda: app.frames >= 1)
        await pilot.pause()
        assert "openai/gpt-4o-mini" in screen_text(app)
        assert "ATTACHED" in screen_text(app).splitlines()[0]
    app.feed.close()
    store.close()


async def test_a_live_console_freezes_its_start_up_objects_out_of_the_collector(tmp_path):
    import gc

    url, store = store_with_records(tmp_path, 1)
    app = ConsoleApp(StoreFeed(url, load_config(None), "ATTACHED", "test"), refresh_s=0.05)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.frames >= 1)
            assert gc.get_freeze_count() > 0  # a full collection no longer walks them
    finally:
        gc.unfreeze()
        app.feed.close()
        store.close()


class FlakyBuilder:
    """Builds from a real snapshot, then fails every build after the first `good`."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.calls = 0

    def __call__(self, store, config):
        self.calls += 1
        if self.calls > self.good:
            raise OSError("disk I/O error")
        return make_snapshot()


async def test_a_failed_fetch_shows_a_toast_and_a_stale_badge_and_the_console_lives_on(tmp_path):
    url, store = store_with_records(tmp_path, 1)
    builder = FlakyBuilder(good=1)
    feed = StoreFeed(url, load_config(None), "ATTACHED", builder=builder)
    app = ConsoleApp(feed, refresh_s=0.05)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_until(pilot, lambda: app.failures >= 3)
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
        assert "STALE" in header and "disk I/O error" in header
        assert "groq/llama-3.1-8b-instant" in screen_text(app)  # the last good data stays
        assert app.screen.query_one("#panes").has_class("-stale")
        toasts = [n.message for n in app._notifications]
        assert toasts.count("OSError: disk I/O error") == 1  # one toast, not one per refresh
        assert app.is_running
    feed.close()
    store.close()


async def test_fetches_never_overlap(tmp_path):
    url, store = store_with_records(tmp_path, 1)
    release = threading.Event()
    running = []
    most = [0]

    def slow(store_, config):
        running.append(1)
        most[0] = max(most[0], len(running))
        release.wait(5)
        running.pop()
        return make_snapshot()

    feed = StoreFeed(url, load_config(None), "ATTACHED", builder=slow)
    app = ConsoleApp(feed, refresh_s=0.01)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(running) == 1)
        for _ in range(20):  # many refresh ticks while the fetch is stuck
            app.request_frame()
            await pilot.pause(0.01)
        assert most[0] == 1
        release.set()
        await wait_until(pilot, lambda: app.frames >= 2)
        assert most[0] == 1
    feed.close()
    store.close()


async def test_pause_stops_fetching_until_resumed(tmp_path):
    url, store = store_with_records(tmp_path, 1)
    builder = FlakyBuilder(good=10**6)
    app = ConsoleApp(StoreFeed(url, load_config(None), "ATTACHED", builder=builder),
                     refresh_s=0.02)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.frames >= 1)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        paused_at = builder.calls
        for _ in range(10):
            await pilot.pause(0.02)
        assert builder.calls == paused_at
        await pilot.press("p")
        await wait_until(pilot, lambda: builder.calls > paused_at)
    app.feed.close()
    store.close()


def test_console_with_listen_runs_the_gateway_as_a_child_that_serves_and_records(tmp_path,
                                                                              monkeypatch):
    import socket

    import httpx

    from axtui.tui.feed import console_feed

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the child imports this checkout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = str(REPO / "fixtures" / "demo.toml")
    feed = console_feed(config, f"127.0.0.1:{port}", f"sqlite:///{tmp_path / 'gw.db'}")
    assert feed.mode == "LIVE" and feed.where == f"127.0.0.1:{port}"
    feed.start()
    try:
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
        answered = None
        for _ in range(600):  # until the child is up (a loaded machine starts it slowly)
            try:
                answered = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                      json=body, timeout=10)
                break
            except httpx.ConnectError:
                assert feed.children[0].problem() is None, feed.children[0].problem()
                time.sleep(0.1)  # poll for the signal
        assert answered is not None and answered.status_code == 200, answered
        seen = []
        for _ in range(100):
            seen.extend(feed.fetch().tail)
            if seen:
                break
            time.sleep(0.1)  # poll for the signal
        assert [r.id for r in seen] == [answered.headers["x-request-id"]]
    finally:
        feed.close()
    assert feed.children[0].proc.returncode == 0
    assert not feed.children[0].log_path.parent.exists()  # a clean stop leaves nothing behind


async def test_a_pulse_tick_that_lands_while_the_panes_go_away_is_dropped_not_raised(tmp_path):
    url, store = store_with_records(tmp_path, 1)
    app = ConsoleApp(StoreFeed(url, load_config(None), "ATTACHED", "test"), refresh_s=60.0)
    from axtui.tui.components.pulse import PulseHeader

    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.frames >= 1)
        await app.dashboard.query_one(PulseHeader).remove()  # as during shutdown
        app.show_pulse()  # the once-a-second tick
        assert app.frames_dropped == 1
    app.feed.close()
    store.close()
