"""The half of a faithful replay that nothing else waits for, on the machine's other core.

A faithful replay feeds every record to four things. Two of them must keep step with the
alert evaluator: the rollups it reads and the breakers it asks about. The other two, the
summary (tally.py) and the flag gates (gatewatch.py), are read only at the gates' ticks and
at the end. So a headless replay at full speed (`--speed max`, no pacing) hands those two to
a child process that reads the trace again on its own (parsing a line costs less than
sending it), ticks the gates at the same instants as the evaluator (the same schedule,
computed from the same records), and sends back the summary, each tick's gate moments and
the final verdicts. The parent puts each tick's gate moments where the single-process run
would have appended them, so the timeline is the same, byte for byte (a test holds it to
that; AXTUI_REPLAY_SIDECAR=off keeps everything in one process).

A child that fails or dies is an error of the replay, never a silently smaller summary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

from axtui.config import Config

log = logging.getLogger(__name__)
ENV = "AXTUI_REPLAY_SIDECAR"


class SidecarError(RuntimeError):
    """The child that counts the summary and the gates failed: the replay has no summary."""


@dataclass
class SidecarResult:
    tally: object  # a Tally
    ticks: list[tuple[float, list]]  # (the evaluation instant, the gate moments it made)
    verdicts: dict[str, dict]
    records: int


def wanted(path: str) -> bool:
    """Whether to run the summary and gates in a child: only for a regular file (a pipe,
    `<(zcat trace.gz)` say, can be read once), and then unless AXTUI_REPLAY_SIDECAR=off,
    on a machine with a second core to run it on."""
    if not os.path.isfile(path):
        return False
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("off", "0", "no", "false"):
        return False
    if setting in ("on", "1", "yes", "true"):
        return True
    return (os.cpu_count() or 1) > 1


def count(path: str, config: Config, interval_s: float, limit: int | None = None
          ) -> SidecarResult:
    """The summary, the gates' moments tick by tick and their final verdicts, from the trace
    at `path` alone, with the evaluation schedule replay_faithful keeps (an evaluation every
    `interval_s` from the first record's minute; the clock at the latest record seen),
    reading no more than the `limit` bytes the replay reads."""
    from axtui.heap import parked
    from axtui.store.db import open_store
    from axtui.traces.replay.faithful import _seed_flags
    from axtui.traces.replay.gatewatch import GateWatch
    from axtui.traces.replay.source import open_fields
    from axtui.traces.replay.tally import Tally

    _, records = open_fields(path, limit)
    tally = Tally()
    head = next(records, None)
    if head is None:
        return SidecarResult(tally, [], {}, 0)
    first = head[0]
    start = first.started_at // 60 * 60
    store = open_store("sqlite://")  # the flags as the replay's store has them, seeded alike
    try:
        _seed_flags(store, config, start)
        moments: list = []
        gates = GateWatch(store, start, moments)
    finally:
        store.close()
    with parked():  # the imports: out of the loop's collections
        return _count(records, head, gates, tally, moments, start, interval_s)


def _count(records: Iterator[tuple[Any, bytes]], head: tuple[Any, bytes], gates: Any,
           tally: Any, moments: list, start: float, interval_s: float) -> SidecarResult:
    first = head[0]
    ticks: list[tuple[float, list]] = []
    now = start
    next_eval = start + interval_s
    end = first.ended_at

    def tick(at: float) -> None:
        nonlocal now, moments
        now = max(at, now)
        gates.tick(at)
        ticks.append((at, moments))
        moments = gates.timeline = []

    add, watch = tally.add, gates.add
    n = 0
    for r, _line in chain((head,), records):
        t = r.ended_at
        if t > end:
            end = t
        if t >= next_eval:
            while next_eval <= t:
                tick(next_eval)
                next_eval += interval_s
        if t > now:
            now = t
        add(r)
        watch(r)
        n += 1
    while next_eval <= end + interval_s:
        tick(next_eval)
        next_eval += interval_s
    return SidecarResult(tally, ticks, gates.final(now), n)


class Sidecar:
    """`count` in a child process, started now, its result fetched by `result()`. Forked
    when this process runs no other thread, else from a forkserver (a fork beside threads
    may copy a lock another thread held) with nothing preloaded: its start holds this
    process up ~40 ms, and the child's imports (~0.4 s; preloaded, they held it up that
    long) run on the other core."""

    def __init__(self, path: str, config: Config, interval_s: float,
                 limit: int | None = None) -> None:
        import multiprocessing
        import threading

        methods = multiprocessing.get_all_start_methods()
        if "fork" in methods and threading.active_count() == 1:
            ctx = multiprocessing.get_context("fork")
        elif "forkserver" in methods:
            # no preload: the child imports what it needs itself, on the other core
            ctx = multiprocessing.get_context("forkserver")
        else:
            ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, args=(path, config, interval_s, limit, theirs),
                                 name="axtui-replay-sidecar", daemon=True)
        self._proc.start()
        theirs.close()  # only the child holds its end: its death reads as EOF here

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def result(self) -> SidecarResult:
        try:
            data = self._conn.recv_bytes()
        except (EOFError, OSError):
            self._proc.join(5.0)
            raise SidecarError(f"the replay's summary process exited (code "
                               f"{self._proc.exitcode}) before it had counted the trace") \
                from None
        finally:
            self._conn.close()
        self._proc.join(5.0)
        if data.startswith(b"E"):
            raise SidecarError(f"the replay's summary process failed: {data[1:].decode()}")
        return pickle.loads(data[1:])

    def close(self) -> None:
        """Stop the child if it still runs (a replay that failed first)."""
        with contextlib.suppress(OSError):
            self._conn.close()
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5.0)


def _child_main(path: str, config: Config, interval_s: float, limit: int | None,
                conn) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this stops
    try:
        out = b"K" + pickle.dumps(count(path, config, interval_s, limit),
                                  protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # the parent raises it, in one line
        log.exception("replay sidecar failed")
        text = str(e).splitlines()[0] if str(e) else ""
        out = f"E{type(e).__name__}: {text}".encode()
    with contextlib.suppress(OSError):
        conn.send_bytes(out)
    conn.close()
