"""The `--workers` supervisor with stand-in workers: tiny real processes that report ready
as a gateway does and exit on SIGTERM, so its start, restart and stop run in a second."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from axtui.gateway.workers import Seat, Supervisor, exit_words

WORKER = """
import os, signal, sys, time
seat = sys.argv[sys.argv.index("--worker-of") + 1].split(":")
mode = sys.argv[1]
if mode == "fail":
    sys.exit(3)
os.write(int(seat[2]), f"{seat[3]} {os.getpid()}\\n".encode())
if mode == "die-once" and seat[3] == "2" and seat[5] == "0":
    os.kill(os.getpid(), signal.SIGKILL)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
"""


@pytest.fixture
def sock():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s
    s.close()


def supervise(sock, mode: str, count: int = 2, *, stop_when=None, note=None):
    said: list[str] = []
    sup = Supervisor([sys.executable, "-c", WORKER, mode], sock, count, say=said.append,
                     note=note, grace_s=1.0)
    if stop_when is not None:
        def stopper() -> None:
            deadline = time.monotonic() + 30
            while not stop_when(said) and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(os.getpid(), signal.SIGTERM)  # as a user would: the supervisor's handler
        threading.Thread(target=stopper, daemon=True).start()
    return sup.run(), said, sup


def test_every_worker_reports_ready_and_sigterm_stops_them_with_exit_0(sock):
    code, said, sup = supervise(sock, "serve", 3, stop_when=lambda s: any("ready" in x for x in s))
    assert code == 0
    assert said[0].startswith("  3 workers ready (pids ")
    assert all(w.proc is None for w in sup.workers)


def test_a_worker_failing_at_start_fails_the_fleet_with_exit_1(sock):
    code, said, sup = supervise(sock, "fail")
    assert code == 1
    assert "exited with code 3 before it was ready; stopping" in said[0]
    assert sup.restarts == 0


def test_a_ready_worker_that_dies_is_reported_noted_and_restarted(sock):
    notes: list[tuple[str, str, dict]] = []
    code, said, sup = supervise(
        sock, "die-once", note=lambda *n: notes.append(n),
        stop_when=lambda s: any("worker 2 ready again" in x for x in s))
    assert code == 0
    died = next(x for x in said if "was killed by SIGKILL" in x)
    assert died.startswith("axtui serve: worker 2 (pid ")
    assert died.endswith("after 0 s; restarting it in 2 s")  # it died at once: backs off
    assert sup.restarts == 1
    [(kind, subject, detail)] = notes
    assert kind == "worker_exit" and subject.endswith("worker 2")
    assert (detail["index"], detail["code"], detail["restarted"]) == (2, -9, True)


def test_a_store_that_cannot_take_the_event_is_counted_not_fatal(sock):
    def broken(*_):
        raise OSError("store unreachable")
    code, said, sup = supervise(
        sock, "die-once", note=broken,
        stop_when=lambda s: any("worker 2 ready again" in x for x in s))
    assert code == 0 and sup.note_errors == 1


def test_the_seat_round_trips_and_a_bad_one_is_refused():
    seat = Seat(supervisor=10, listen_fd=3, ready_fd=5, index=2, count=4, generation=1)
    assert Seat.parse(seat.arg()) == seat
    with pytest.raises(ValueError, match="expected six numbers"):
        Seat.parse("1:2:x")


def test_exit_codes_read_as_words():
    assert exit_words(-9) == "was killed by SIGKILL"
    assert exit_words(1) == "exited with code 1"


def test_worker_of_by_hand_is_one_line_and_exit_2():
    r = subprocess.run([sys.executable, "-m", "axtui.cli.main", "serve", "--worker-of", "x"],
                       capture_output=True, text=True, env={**os.environ,
                                                            "PYTHONPATH": os.getcwd()})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --worker-of 'x': expected six numbers separated by ':' (set by `axtui serve "
        "--workers`, not by hand)"]
