"""Holding a replay's virtual time to real time: `Pacer` at a fixed speed (headless
`--speed N`), `FilePacer` steered by a control file (the console's pause, step and speed
keys) and reporting progress in another, so a console in its own process can follow."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)
CONTROL = "control.json"  # the console writes: {"speed": N | null, "paused": b, "steps": n}
PROGRESS = "progress.json"  # the replay writes: {"now": t, "done": b}
POLL_S = 0.05  # while paused: how often the control file is read
STEP_S = 15.0  # one step while paused: this much trace time (an alert evaluation)


class Pacer:
    """Call `pace(now)` with the replay's virtual time as it moves: it sleeps so that trace
    time runs at `speed` trace seconds a real second (None: as fast as it goes)."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self._base_v: float | None = None  # virtual time at the last rebase
        self._base_wall = 0.0

    def pace(self, now: float) -> None:
        if self._base_v is None:
            self._rebase(now)
        if self.speed:
            ahead = (now - self._base_v) / self.speed - (time.perf_counter() - self._base_wall)
            if ahead > 0:
                time.sleep(min(ahead, 1.0))  # a speed change is seen within a second

    def _rebase(self, now: float) -> None:
        self._base_v, self._base_wall = now, time.perf_counter()

    def finish(self, now: float) -> None:
        """The replay is over (a console shows it)."""


class FilePacer(Pacer):
    """A Pacer whose speed, pause and steps come from `dir/control.json`; writes
    `dir/progress.json` (the trace time reached) as it goes."""

    def __init__(self, folder: str | os.PathLike[str], speed: float | None) -> None:
        super().__init__(speed)
        self.folder = Path(folder)
        self.paused = False
        self._steps_seen = 0
        self._allow_until = -1.0  # while paused, run to here (a step)
        self._control: dict = {}
        self._control_stamp: tuple[int, int] | None = None
        self._wrote = 0.0
        self.control_errors = 0  # unreadable control files (logged; the last good one holds)
        self._read_control()
        self._steps_seen = self._steps

    def pace(self, now: float) -> None:
        self._read_control()
        if self._steps > self._steps_seen:  # each step lets one evaluation's time pass
            self._allow_until = max(self._allow_until, now) + STEP_S * (
                self._steps - self._steps_seen)
            self._steps_seen = self._steps
        while self.paused and now >= self._allow_until:
            self._progress(now, force=True)
            time.sleep(POLL_S)
            self._read_control()
            if self._steps > self._steps_seen:
                self._allow_until = now + STEP_S * (self._steps - self._steps_seen)
                self._steps_seen = self._steps
            self._rebase(now)  # after a pause, pace from here
        super().pace(now)
        self._progress(now)

    def finish(self, now: float) -> None:
        write_json(self.folder / PROGRESS, {"now": now, "done": True})

    def _progress(self, now: float, force: bool = False) -> None:
        t = time.monotonic()
        if force or t - self._wrote >= 0.2:
            self._wrote = t
            write_json(self.folder / PROGRESS, {"now": now, "done": False})

    @property
    def _steps(self) -> int:
        return self._control.get("steps", 0)

    def _read_control(self) -> None:
        path = self.folder / CONTROL
        try:
            st = path.stat()
        except FileNotFoundError:
            return  # no console has written one: the starting speed holds
        stamp = (st.st_ino, st.st_mtime_ns)  # each write is a new file (os.replace)
        if stamp == self._control_stamp:
            return
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as e:
            self.control_errors += 1
            log.warning("replay control %s unreadable: %s", path, e)
            return
        self._control_stamp = stamp
        self._control = data
        speed = data.get("speed", self.speed)
        if speed != self.speed:
            self.speed = speed
            self._base_v = None  # rebase on the next pace
        self.paused = bool(data.get("paused", False))


class ReplayControl:
    """The console's side: writes control.json, reads progress.json."""

    SPEEDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, None)

    def __init__(self, folder: str | os.PathLike[str], speed: float | None) -> None:
        self.folder = Path(folder)
        self.speed = speed
        self.paused = False
        self.steps = 0
        self._write()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self._write()

    def step(self) -> None:
        self.steps += 1
        self._write()

    def faster(self) -> None:
        self._shift(+1)

    def slower(self) -> None:
        self._shift(-1)

    def _shift(self, by: int) -> None:
        speeds = self.SPEEDS
        if self.speed is None:
            i = len(speeds) - 1
        else:
            i = min(range(len(speeds) - 1), key=lambda k: abs(speeds[k] - self.speed))
        self.speed = speeds[max(0, min(len(speeds) - 1, i + by))]
        self._write()

    def label(self) -> str:
        """The header's mode: REPLAY ×60, REPLAY ×max, with PAUSED or DONE after it."""
        speed = "max" if self.speed is None else f"{self.speed:g}"
        p = self.progress()
        state = " DONE" if p.get("done") else (" PAUSED" if self.paused else "")
        return f"REPLAY \u00d7{speed}{state}"

    def progress(self) -> dict:
        try:
            return json.loads((self.folder / PROGRESS).read_text("utf-8"))
        except (OSError, ValueError):
            return {}  # not written yet (or mid-replace): no trace time to show yet

    def _write(self) -> None:
        write_json(self.folder / CONTROL, {"speed": self.speed, "paused": self.paused,
                                           "steps": self.steps})


def write_json(path: Path, data: dict) -> None:
    """Whole or not at all: the reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), "utf-8")
    os.replace(tmp, path)
