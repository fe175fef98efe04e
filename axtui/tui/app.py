"""The console app: one background producer makes frames (a snapshot and the live tail's new
records), one at a time, never overlapping; each is applied inside `batch_update()`.

A failed fetch is a toast and a STALE badge; the last good frame stays on screen, greyed.
With `live=False` (tests, snapshots) nothing runs by itself: frames are injected with
`apply_frame`, and `clock` is whatever the test froze.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from textual.css.query import NoMatches
from textual.worker import Worker, WorkerState

from axtui.snapshot.events import ConfigReloadEvent
from axtui.tui.actions import ConsoleActions
from axtui.tui.components.keyed_table import KeyedTable
from axtui.tui.components.pulse import freshness
from axtui.tui.context import ConsoleContext, Target
from axtui.tui.feed import Frame, StoreFeed
from axtui.tui.messages import DetailRequested, FeedFailed, FrameApplied
from axtui.tui.palette import Palette
from axtui.tui.screens.dashboard import DashboardScreen

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 0.33  # 3 Hz
EAGER_S = 0.1  # between fetches until the first record shows up (a fresh demo store)


class ConsoleApp(ConsoleActions):
    """Bindings, dialogs and detail screens come from ConsoleActions (tui/keys.py)."""

    CSS_PATH = "console.tcss"
    TITLE = "axtui"

    def __init__(self, feed: StoreFeed | None = None, *, mode: str = "LIVE", where: str = "",
                 refresh_s: float = DEFAULT_REFRESH_S, readonly: bool = False,
                 live: bool = True, clock: Callable[[], float] = time.time,
                 serving: bool = False, theme: str | None = None,
                 keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.context = ConsoleContext(store_url=feed.store_url if feed is not None else None,
                                      readonly=readonly, serving=serving)
        self.start_theme, self.start_keymap = theme, keymap
        self.feed = feed
        self.mode = feed.mode if feed is not None else mode
        self.where = feed.where if feed is not None else where
        self.refresh_s = refresh_s
        self.readonly = readonly
        self.live = live and feed is not None
        self.data_seen = False  # until a frame carries a record, fetch at EAGER_S
        self.clock = clock
        self.serving = serving  # quitting stops traffic: ask twice
        self.paused = False
        self.frame: Frame | None = None
        self.last_ok_at: float | None = None
        self.problem: str | None = None
        self.failures = 0  # fetches that failed, over the session
        self.frames = 0  # frames applied
        self.frames_dropped = 0  # frames that arrived while the app shut down
        self.reloads_seen: int | None = None  # the newest config_reload event announced
        self._fetching = False
        self._quit_armed_at: float | None = None

    @property
    def palette(self) -> Palette:
        return Palette(self.theme_variables)

    @property
    def dashboard(self) -> DashboardScreen:
        # None while exiting: a fetch that finishes during shutdown has no panes to fill
        if self._exit or not self.is_screen_installed("dashboard"):
            return None
        board = self.get_screen("dashboard")
        return board if board.is_mounted and board.children else None

    async def on_mount(self) -> None:
        self.install_themes(self.start_theme)
        if self.start_keymap:
            self.set_keymap(self.start_keymap)  # validated by the CLI (keys.validate_keymap)
        self.install_screen(DashboardScreen(), "dashboard")
        await self.push_screen("dashboard")
        self.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        self.show_pulse()
        if getattr(self.feed, "replay", None) is not None:  # axtui replay --tui
            self.bind("n", "replay_step", description="step")
            self.bind("plus,equals_sign", "replay_speed(1)", description="faster")
            self.bind("minus", "replay_speed(-1)", description="slower")
            self.set_interval(1.0, self._replay_label)
        if self.live:
            self.set_interval(self.refresh_s, self.request_frame)
            self.set_interval(1.0, self.show_pulse)
            self.request_frame()

    # ---------------------------------------------------------------- the producer
    def request_frame(self) -> None:
        """Start one fetch in a thread unless one is running or the console is paused."""
        if self.paused or self._fetching or self.feed is None:
            return
        self._fetching = True
        # exit_on_error=False: a failed fetch must not take the console down
        self.run_worker(self.feed.fetch, name="snapshot", group="producer", thread=True,
                        exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "producer":
            return
        if event.state == WorkerState.SUCCESS:
            self._fetching = False
            self.apply_frame(worker.result)
        elif event.state == WorkerState.ERROR:
            self._fetching = False
            self.feed_failed(worker.error)
        elif event.state == WorkerState.CANCELLED:
            self._fetching = False

    def apply_frame(self, frame: Frame) -> None:
        """Put a frame on screen, every pane in one batch."""
        self.frame = frame
        self.last_ok_at = frame.fetched_at or self.clock()
        self.problem = None
        self.frames += 1
        board = self.dashboard
        try:
            with self.batch_update():
                if board is not None:
                    board.show_frame(frame, now=frame.snapshot.taken_at, palette=self.palette)
                    board.set_stale(False)
                self.show_pulse()
        except NoMatches:  # the panes went away under us: only while the app shuts down
            self.frames_dropped += 1
            log.debug("frame dropped: the dashboard is being torn down")
            return
        if self.live and not self.data_seen:
            # a fresh store (the demo's first second): look again soon, not a refresh later
            self.data_seen = frame.snapshot.pulse.last_record_at is not None
            if not self.data_seen:
                self.set_timer(EAGER_S, self.request_frame)
        self.announce_reloads(frame.snapshot)
        if self.frames == 1 and self.live:
            # start-up's objects (Textual, Rich, models) live as long as the app: frozen out of
            # the collector, a full collection drops from ~60 ms to ~1 ms on the event loop
            gc.freeze()
        self.post_message(FrameApplied(frame))

    def announce_reloads(self, snapshot) -> None:
        """A config reload of any process writing this store, applied or refused, as a toast
        (the event log's audit line). The reloads before the console's first frame are
        history, not news: only later ones are shown, oldest first."""
        reloads = [e for e in snapshot.events if e.kind == "config_reload"]
        newest = max((e.id for e in reloads), default=0)
        if self.reloads_seen is None:
            self.reloads_seen = newest
            return
        for e in sorted((e for e in reloads if e.id > self.reloads_seen), key=lambda e: e.id):
            d = e.detail
            refused = isinstance(d, ConfigReloadEvent) and not d.ok
            waits = isinstance(d, ConfigReloadEvent) and d.restart_required
            text = d.summary if isinstance(d, ConfigReloadEvent) and d.summary else e.summary
            self.notify(f"{e.subject}: {text}", severity="error" if refused else
                        "warning" if waits else "information", timeout=12,
                        title="config reload refused" if refused else "config reloaded")
        self.reloads_seen = max(self.reloads_seen, newest)

    def feed_failed(self, error: BaseException | str | None) -> None:
        message = error if isinstance(error, str) else (
            f"{type(error).__name__}: {error}" if error is not None else "unknown error")
        self.failures += 1
        log.warning("console feed failed (%d so far): %s", self.failures, message)
        if message != self.problem:  # one toast per distinct problem, not one per refresh
            self.notify(message, title="data feed failed", severity="error", timeout=8)
        self.problem = message
        board = self.dashboard
        if board is not None:
            board.set_stale(True)
        self.show_pulse()
        self.post_message(FeedFailed(message))

    def show_pulse(self) -> None:
        board = self.dashboard
        if board is None:
            return
        age = None if self.last_ok_at is None else max(0.0, self.clock() - self.last_ok_at)
        level = freshness(age, self.refresh_s, self.problem is not None)
        try:
            board.set_stale(level == "stale" and self.frame is not None)
            board.show_pulse(mode=self.mode, where=self.where,
                             pulse=self.frame.snapshot.pulse if self.frame else None,
                             age_s=age, level=level, palette=self.palette, paused=self.paused,
                             readonly=self.readonly,
                             problem=self.problem[:60] if self.problem else None,
                             # attached to a store: the gateways writing it, as a fleet
                             fleet=self.frame.snapshot.fleet
                             if self.frame and self.mode == "ATTACHED" else None)
        except NoMatches:  # the once-a-second tick landed while the panes were torn down
            self.frames_dropped += 1
            log.debug("pulse dropped: the dashboard is being torn down")

    def _restyle(self) -> None:
        board = self.dashboard
        if board is not None and self.frame is not None:
            board.show_frame(self.frame.__class__(self.frame.snapshot),  # no tail re-add
                             now=self.frame.snapshot.taken_at, palette=self.palette,
                             force=True)
        self.show_pulse()

    # ---------------------------------------------------------------- keys
    @property
    def snapshot(self):
        return self.frame.snapshot if self.frame is not None else None

    def focused_target(self) -> Target | None:
        """The row under the cursor of the focused table (by key, never by position)."""
        table = self.focused
        if isinstance(table, KeyedTable) and (key := table.current_key()) is not None:
            return Target(table.KIND, key)
        return None

    def on_detail_requested(self, event: DetailRequested) -> None:
        self.open_detail(Target(event.kind, event.name))

    def action_pause(self) -> None:
        replay = getattr(self.feed, "replay", None)
        if replay is not None:  # a replay pauses its trace time; the screen keeps following
            replay.set_paused(not replay.paused)
            self._replay_label()
            return
        self.paused = not self.paused
        self.show_pulse()
        if not self.paused:
            self.request_frame()

    def action_replay_step(self) -> None:
        """While a replay is paused, let one alert evaluation's worth of trace time pass."""
        self.feed.replay.step()

    def action_replay_speed(self, by: int) -> None:
        replay = self.feed.replay
        replay.faster() if by > 0 else replay.slower()
        self._replay_label()

    def _replay_label(self) -> None:
        """The header's mode: REPLAY ×N, and PAUSED or DONE."""
        self.mode = self.feed.replay.label()
        self.show_pulse()

    async def action_quit(self) -> None:
        """Textual's ctrl+q: the same confirmation as q while serving traffic."""
        self.action_quit_console()

    def action_quit_console(self) -> None:
        now = time.monotonic()
        if self.serving and (self._quit_armed_at is None or now - self._quit_armed_at > 3):
            self._quit_armed_at = now
            self.notify("this console is serving traffic: press q again to stop the gateway "
                        "and quit", severity="warning", timeout=3)
            return
        self.exit()
