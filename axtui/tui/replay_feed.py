"""The console playing a replay: `axtui replay TRACE --tui`. The replay runs as a child
process writing a fresh store at the chosen speed; the console reads that store like any
other, its snapshots taken at the replay's trace time (not the wall clock), and steers the
child through a control file (pause, step, speed: traces/replay/pace.py)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from axtui.config import Config
from axtui.traces.replay.pace import ReplayControl
from axtui.tui.feed import WINDOW_S, Child, StoreFeed, _axtui, _remove_workdir


class ReplayChild(Child):
    """The replay ends on its own: exit 0 is the end of the trace, not a failure."""

    def problem(self) -> str | None:
        if self.proc is not None and self.proc.poll() == 0:
            return None
        return super().problem()


@dataclass
class ReplayFeed(StoreFeed):
    replay: ReplayControl | None = None
    _builder: object | None = field(default=None, init=False, repr=False)

    def _build(self, store):
        if self._builder is None:
            from axtui.snapshot.build import SnapshotBuilder

            self._builder = SnapshotBuilder(store, self.config, window_s=WINDOW_S)
        self._builder.spend_range_s = self.spend_range_s
        now = self.replay.progress().get("now") if self.replay is not None else None
        return self._builder.build(now)  # None until the replay has started: wall time


def replay_feed(trace: str, replay_args: list[str], config: Config, speed: float | None
                ) -> ReplayFeed:
    """A feed over a child `axtui replay TRACE *replay_args` writing a temp store."""
    workdir = Path(tempfile.mkdtemp(prefix="axtui-replay-"))
    url = f"sqlite:///{workdir / 'replay.db'}"
    control = ReplayControl(workdir, speed)
    argv = _axtui("replay", trace, *replay_args, "--speed",
                  "max" if speed is None else f"{speed:g}", "--store", url,
                  "--control", str(workdir))
    child = ReplayChild(argv, workdir / "replay.log")
    feed = ReplayFeed(url, config, control.label(), Path(trace).name, children=[child],
                      replay=control)
    feed.cleanup.append(lambda: _remove_workdir(child, workdir))
    return feed
