"""`axtui --web`: the console in a real browser (Debian's chromium driven by playwright, no
`playwright install`): the dashboard arrives, a screenshot is taken, and K opens the kill
dialog for the focused deployment."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_console(tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (.ci/run installs it: apt-get install "
                    "--no-install-recommends chromium chromium-driver)")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "web.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "axtui.cli.main", "--web",
                                 "--web-listen", f"127.0.0.1:{port}"], cwd=tmp_path, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_listening(proc, port, tmp_path / "web.log")
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the server, its demo child and the sessions
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_listening(proc, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:  # the signal: the server accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.1)


def _wait_for(page, frames: list, start: int, *needles: bytes, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        blob = b"".join(f if isinstance(f, bytes) else f.encode() for f in frames[start:])
        if all(n in blob for n in needles):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the browser never showed {needles!r}")


def test_the_console_runs_in_a_browser_and_K_opens_the_kill_dialog(web_console, tmp_path):
    from playwright.sync_api import sync_playwright

    frames: list = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
            page.goto(web_console)
            _wait_for(page, frames, 0, b"Deployments", b"openai/gpt-4o")  # live rows
            page.mouse.click(640, 6)  # the header: gives the terminal the keyboard, focuses nothing
            seen = len(frames)
            page.keyboard.type("1")
            _wait_for(page, frames, seen, b"1 Deployments")  # its border redrawn: focused
            seen = len(frames)
            page.keyboard.type("K")
            try:
                _wait_for(page, frames, seen, b"rain deployment", b"blast radius", b"Cancel")
            except AssertionError:
                page.screenshot(path=str(tmp_path / "failed.png"))
                raise
            shot = tmp_path / "console-kill.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"
        finally:
            browser.close()
