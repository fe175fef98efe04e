"""`axtui demo --replay`: the console over a real replay child playing the bundled
provider-outage trace, to its end."""

from __future__ import annotations

from axtui.cli.demo import REPLAY_TRACE
from axtui.config import load_config
from axtui.traces.replay.run import resolve_trace
from axtui.tui.app import ConsoleApp
from axtui.tui.replay_feed import replay_feed
from tests.tui.conftest import screen_text
from tests.tui.test_producer import wait_until


async def test_the_demo_replay_plays_the_provider_outage_to_its_end(tmp_path):
    feed = replay_feed(resolve_trace(REPLAY_TRACE), ["--mode", "faithful", "--seed", "7"],
                       load_config(), None)  # as fast as it goes
    feed.start()
    app = ConsoleApp(feed, refresh_s=0.1)
    try:
        async with app.run_test(size=(200, 60)) as pilot:
            await wait_until(pilot, lambda: app.frame is not None
                             and "DONE" in screen_text(app).splitlines()[0], rounds=6000)
            await wait_until(pilot, lambda: "error-rate" in screen_text(app))
            text = screen_text(app)
            assert "REPLAY \u00d7max DONE  provider-outage" in text.splitlines()[0]
            alert = next(line for line in text.splitlines() if "error-rate" in line)
            # The outage's alert fired (tests/cli/test_replay_cli.py reads its transitions)
            # and was over by the end: resolved at 1,500 s of a 2,394 s trace, it is kept as
            # `resolved` for 900 s and then reads `inactive`, so the last evaluation, at the
            # trace's end, may show either.
            assert "firing" not in alert and "pending" not in alert
            assert "resolved" in alert or "inactive" in alert
            assert "openai/gpt-4o-mini" in text
    finally:
        feed.close()
