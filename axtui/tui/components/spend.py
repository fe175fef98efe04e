"""Pane 4: $/h by provider over 1 h, 24 h or 7 d, with the budget line; replotted at most
once a second, only when visible (hidden widgets do not render), downsampled to the width."""

from __future__ import annotations

import time

from rich.text import Text
from textual.binding import Binding
from textual_plotext import PlotextPlot

from axtui.snapshot.model import Spend
from axtui.tui import format as fmt
from axtui.tui.spend_series import WINDOWS, lines

REPLOT_S = 1.0
_Y_AXIS_CELLS = 10  # what plotext keeps for the y labels


class SpendChart(PlotextPlot):
    BINDINGS = [Binding("w", "next_window", "window", id="spend.window",
                        tooltip="the next window: 1 h, 24 h, 7 d")]
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "4 Spend $/h by provider"
        self.window = 0  # 1h: the demo's data starts when it does
        self._spend: Spend | None = None
        self._cache: tuple[tuple[int, int], Text] | None = None
        self._built_at = 0.0
        self._dirty = True
        self._pending = False
        self.builds = 0  # plots of data done: a benchmark and tests read it
        self.monotonic = time.monotonic  # tests freeze it
        self._plotted = False

    def show(self, spend: Spend) -> None:
        if spend != self._spend:
            self._spend = spend
            self._dirty = True
            self.refresh()

    def action_next_window(self) -> None:
        self.window = (self.window + 1) % len(WINDOWS)
        feed = getattr(self.app, "feed", None)
        if feed is not None:  # the next snapshot covers the new range
            feed.spend_range_s = WINDOWS[self.window][1]
        self._dirty = True
        self._built_at = 0.0
        self.refresh()

    def render(self):
        size = (self.size.width, self.size.height)
        cached = self._cache
        if cached is not None and cached[0] == size and not self._dirty:
            return cached[1]
        wait = REPLOT_S - (self.monotonic() - self._built_at)
        if cached is not None and cached[0] == size and wait > 0:
            if not self._pending:  # the newest data is plotted within a second
                self._pending = True
                self.set_timer(wait, self._replot_due)
            return cached[1]
        text = self._build(size)
        self._cache = (size, text)
        # a placeholder (no data yet) does not hold back the first real plot
        self._built_at = self.monotonic() if self._plotted else 0.0
        self._dirty = False
        self.builds += self._plotted
        return text

    def _replot_due(self) -> None:
        self._pending = False
        self.refresh()

    def _build(self, size: tuple[int, int]) -> Text:
        plt = self.plt
        plt.clear_figure()
        self._plotted = False
        name, window_s = WINDOWS[self.window]
        spend = self._spend
        if spend is None:
            return Text("no spend data yet")
        if size[0] < 20 or size[1] < 5:
            return Text("too small for a chart: a bigger terminal shows it")
        title = f"$/h over {name} · today ${fmt.usd_per_hour(spend.today_nano)}"
        if spend.projected_day_nano is not None:
            title += f" · projected ${fmt.usd_per_hour(spend.projected_day_nano)} for the day"
        if spend.free_tier.served:  # today's answers on free tiers
            title += f" · free tiers {fmt.percent(spend.free_tier.share, 0)}%"
        plt.title(title)
        series = lines(spend, window_s, size[0] - _Y_AXIS_CELLS)
        for provider, xs, ys in series:
            plt.plot(xs, ys, label=provider, marker="braille")
        if spend.budget_per_hour_nano:
            plt.horizontal_line(spend.budget_per_hour_nano / 1e9, color="red")
        plt.xlim(-window_s / 3600.0, 0)
        plt.xlabel("hours ago")
        plt.plotsize(size[0], size[1])
        plt._set_size(size[0], size[1])
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        if not series:
            return Text(f"no spend in the last {name}")
        self._plotted = True
        return Text.from_ansi(plt.build())
