"""`axtui attach` hands its options to the console: `--no-mouse` leaves the mouse to the
terminal, `--refresh HZ` sets the producer's interval, bad values are refused (exit 2)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from axtui.cli.main import app
from axtui.store.db import open_store
from axtui.tui.app import ConsoleApp

runner = CliRunner()


@pytest.fixture
def started(monkeypatch, tmp_path):
    """Runs `axtui attach` up to the app's run(): what the console would start with."""
    url = f"sqlite:///{tmp_path}/fleet.db"
    open_store(url).close()
    seen: dict = {}

    def run(self, **kwargs):
        seen.update(kwargs, refresh_s=self.refresh_s, app=self)

    monkeypatch.setenv("AXTUI_FORCE_TUI", "1")  # CliRunner's streams are no terminal
    monkeypatch.setattr(ConsoleApp, "run", run)

    def start(*args: str):
        result = runner.invoke(app, ["attach", "--store", url, *args])
        return result, seen
    return start


def test_no_mouse_leaves_the_mouse_to_the_terminal(started):
    result, seen = started("--no-mouse")
    assert result.exit_code == 0, result.output
    assert seen["mouse"] is False


def test_the_mouse_is_on_by_default_and_refresh_is_three_a_second(started):
    result, seen = started()
    assert result.exit_code == 0, result.output
    assert seen["mouse"] is True and seen["refresh_s"] == pytest.approx(1 / 3)


def test_refresh_sets_the_producers_interval(started):
    result, seen = started("--refresh", "4")
    assert result.exit_code == 0, result.output
    assert seen["refresh_s"] == pytest.approx(0.25)


def test_a_refresh_out_of_range_is_refused(started):
    result, seen = started("--refresh", "0")
    assert result.exit_code == 2 and "--refresh" in result.output
    assert not seen
