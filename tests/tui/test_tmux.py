"""`axtui` in a real terminal: started in tmux on its own socket, it shows live demo data;
`?` opens the help, `4` brings the spend pane up, K opens the kill dialog and esc closes it,
and `q` quits cleanly (exit 0). Every step waits for what the screen shows, never a sleep."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIVE_ROW = re.compile(r"(ok|OPEN|degraded|half-open)\s+\d+\s+\d+\.\d")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30)
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "console")

    def wait(self, what, timeout_s: float = 60.0) -> str:
        """Poll the pane until `what(screen)` holds; the screen seen last is in the error."""
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if what(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the screen was:\n{screen}")
            time.sleep(0.05)


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    t = Tmux(f"axtui-test-{uuid.uuid4().hex[:8]}")
    command = (f"cd {tmp_path} && PYTHONPATH={ROOT} {sys.executable} -m axtui.cli.main; "
               "echo EXIT=$?; sleep 60")
    t("new-session", "-d", "-s", "console", "-x", "100", "-y", "30", command)
    yield t
    t("kill-server")  # this test's own tmux server, on its own socket


def test_axtui_in_tmux_shows_live_data_answers_keys_and_quits_cleanly(tmux):
    # live data: a deployment row with its rpm and ok%
    tmux.wait(lambda s: LIVE_ROW.search(s) is not None)
    tmux("send-keys", "-t", "console", "?")
    tmux.wait(lambda s: "remap any by id" in s and "kill" in s)
    tmux("send-keys", "-t", "console", "Escape")
    tmux.wait(lambda s: "remap any by id" not in s)
    tmux("send-keys", "-t", "console", "4")
    tmux.wait(lambda s: "4 Spend" in s)
    tmux("send-keys", "-t", "console", "1")
    tmux("send-keys", "-t", "console", "K")
    tmux.wait(lambda s: "rain deployment" in s and "blast radius" in s and "Cancel" in s)
    tmux("send-keys", "-t", "console", "Escape")
    tmux.wait(lambda s: "blast radius" not in s)
    tmux("send-keys", "-t", "console", "q")
    screen = tmux.wait(lambda s: "EXIT=" in s)
    assert "EXIT=0" in screen and "Traceback" not in screen


def test_a_bad_key_remap_stops_the_console_with_one_line(tmp_path):
    cfg = (ROOT / "fixtures" / "demo.toml").read_text() + '\n[console.keys]\nkill = "ctrl+b"\n'
    (tmp_path / "axtui.toml").write_text(cfg)
    done = subprocess.run([sys.executable, "-m", "axtui.cli.main", "console", "--config",
                           str(tmp_path / "axtui.toml")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "AXTUI_FORCE_TUI": "1"},
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: console.keys.kill: 'ctrl+b' belongs to tmux's "
                                   "prefix; pick another key")
