"""Pacing a replay from a console in another process: pause holds trace time, a step lets
one evaluation's worth through, speed keys move along a ladder, progress is reported."""

from __future__ import annotations

import threading
import time

from axtui.traces.replay.pace import STEP_S, FilePacer, ReplayControl

T0 = 1_767_225_600.0


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_pause_holds_trace_time_a_step_lets_one_evaluation_through_and_resume_finishes(
        tmp_path):
    control = ReplayControl(tmp_path, speed=None)
    control.set_paused(True)
    pacer = FilePacer(tmp_path, None)

    def play() -> None:
        for i in range(8):
            pacer.pace(T0 + i * STEP_S)
        pacer.finish(T0 + 8 * STEP_S)

    t = threading.Thread(target=play)
    t.start()
    wait_for(lambda: control.progress().get("now") == T0)
    assert control.label() == "REPLAY \u00d7max PAUSED"
    control.step()
    wait_for(lambda: control.progress().get("now") == T0 + STEP_S)
    assert t.is_alive()
    control.set_paused(False)
    t.join(10)
    assert control.progress() == {"now": T0 + 8 * STEP_S, "done": True}
    assert control.label() == "REPLAY \u00d7max DONE"


def test_speed_keys_move_along_the_ladder(tmp_path):
    control = ReplayControl(tmp_path, speed=60.0)
    assert control.label() == "REPLAY \u00d760"
    control.faster()
    assert control.label() == "REPLAY \u00d7120"
    control.slower()
    control.slower()
    assert control.label() == "REPLAY \u00d730"
    fastest = ReplayControl(tmp_path, speed=None)
    fastest.slower()
    assert fastest.speed == 3600.0


def test_a_speed_written_by_the_console_is_taken_up_by_the_replay(tmp_path):
    control = ReplayControl(tmp_path, speed=1.0)
    pacer = FilePacer(tmp_path, 1.0)
    control.faster()  # 2x
    pacer.pace(T0)
    assert pacer.speed == 2.0
