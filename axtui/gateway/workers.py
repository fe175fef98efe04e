"""`axtui serve --workers N`: N gateway processes on one listening socket.

The supervisor binds the port once and starts N workers, each an ordinary `axtui serve`
handed the listening socket (an inherited descriptor, as uvicorn's and gunicorn's workers
share theirs): the kernel gives each new connection to whichever worker accepts first. One
shared socket rather than SO_REUSEPORT sockets: a worker that dies leaves the connections
waiting in the queue to the others, where its own SO_REUSEPORT queue would reset them.

Each worker is a whole gateway: its engine, its recorder (and handoff ring), its heartbeat
row and its metric files, on the shared store (and Redis, when configured). The supervisor
serves nothing. It forwards SIGTERM or Ctrl-C as one SIGTERM to each worker (each drains as
a single process does; a second signal forces them), SIGHUP to each worker (each re-reads
the config file and audits its own reload), and restarts a worker that dies: the
death is a line on stderr and a `worker_exit` event in the store, and the replacement's
recorder replays the dead worker's handoff ring, so no answered request loses its record.
Workers die with the supervisor (PR_SET_PDEATHSIG): a kill -9 of it leaves none serving.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

QUICK_EXIT_S = 10.0  # a worker that dies sooner than this after its start is restarted later
MAX_RESTART_DELAY_S = 30.0
STOP_SLACK_S = 90.0  # past the grace period: the recorder's last writes, then SIGKILL
EVENT_KIND = "worker_exit"


@dataclass(frozen=True)
class Seat:
    """What a worker is told on its command line (`--worker-of`): who supervises it, the
    descriptors it inherits, and which of the N it is."""

    supervisor: int  # pid
    listen_fd: int
    ready_fd: int
    index: int  # 1..count
    count: int
    generation: int  # 0 for the first start, +1 per restart

    def arg(self) -> str:
        return (f"{self.supervisor}:{self.listen_fd}:{self.ready_fd}:{self.index}:"
                f"{self.count}:{self.generation}")

    @classmethod
    def parse(cls, text: str) -> Seat:
        parts = text.split(":")
        if len(parts) != 6 or not all(p.isdigit() for p in parts):
            raise ValueError(f"--worker-of {text!r}: expected six numbers separated by ':' "
                             "(set by `axtui serve --workers`, not by hand)")
        return cls(*(int(p) for p in parts))


def join_fleet(seat: Seat) -> socket.socket:
    """In a worker: die with the supervisor, and take the listening socket it handed over."""
    _die_with_parent(signal.SIGTERM)
    if os.getppid() != seat.supervisor:  # it died before the line above took effect
        raise OSError(f"worker {seat.index}: the supervisor (pid {seat.supervisor}) is gone")
    return socket.socket(fileno=seat.listen_fd)


def report_ready(seat: Seat) -> None:
    """In a worker, once serving: tell the supervisor (one line, atomic on a pipe)."""
    try:
        os.write(seat.ready_fd, f"{seat.index} {os.getpid()}\n".encode())
    except OSError as e:  # the supervisor is gone: PDEATHSIG stops this worker anyway
        log.warning("worker %d: could not report ready: %s", seat.index, e)
    finally:
        with contextlib.suppress(OSError):
            os.close(seat.ready_fd)


def _die_with_parent(sig: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError) as e:  # no prctl: a dead supervisor leaves it running
        log.warning("worker: PR_SET_PDEATHSIG unavailable: %s", e)


def exit_words(code: int) -> str:
    """A process's return code as a person reads it."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Worker:
    __slots__ = ("index", "proc", "started", "ready", "generation", "quick_exits", "start_at")

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen | None = None
        self.started = 0.0  # time.monotonic() of its start
        self.ready = False
        self.generation = -1
        self.quick_exits = 0  # deaths in a row within QUICK_EXIT_S of their start
        self.start_at: float | None = None  # a restart is due at this monotonic time

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class Supervisor:
    """Runs `count` workers: `command` (argv) plus `--worker-of SEAT`, until SIGTERM/SIGINT.

    `say` prints a line for the operator; `note(kind, subject, detail)` stores an event (a
    failure there is logged, never fatal); `grace_s` is the workers' drain time."""

    def __init__(self, command: Sequence[str], sock: socket.socket, count: int, *,
                 say: Callable[[str], None], note: Callable[[str, str, dict], None] | None = None,
                 grace_s: float = 30.0, restart: bool = True) -> None:
        if count < 1:
            raise ValueError("--workers: at least 1")
        self.command = list(command)
        self.sock = sock
        self.say = say
        self.note = note
        self.grace_s = grace_s
        self.restart = restart
        self.workers = [Worker(i) for i in range(1, count + 1)]
        self.restarts = 0
        self.note_errors = 0
        self.all_ready = False
        self._stopping = False
        self._stop_deadline = 0.0
        self._failed: str | None = None
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)
        self._buffer = b""

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        """Start every worker and supervise them. 0 after an orderly stop in which every
        worker exited 0; 1 if the fleet did not start, or a worker's stop went wrong."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(wake_r, selectors.EVENT_READ, "signal")
        sel.register(self._ready_r, selectors.EVENT_READ, "ready")
        handlers = {s: signal.signal(s, _noop)
                    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP)}
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        try:
            for w in self.workers:
                self._start(w)
            return self._loop(sel, wake_r)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for s, h in handlers.items():
                signal.signal(s, h)
            for w in self.workers:  # an exception above: none may outlive us
                if w.proc is not None and w.proc.poll() is None:
                    w.proc.kill()
                    w.proc.wait()
            sel.close()
            wake_r.close()
            wake_w.close()
            os.close(self._ready_r)
            os.close(self._ready_w)

    def _loop(self, sel: selectors.BaseSelector, wake_r: socket.socket) -> int:
        while True:
            for key, _ in sel.select(self._timeout()):
                if key.data == "signal":
                    for signum in _drain(wake_r):
                        if signum in (signal.SIGTERM, signal.SIGINT):
                            self.stop()
                        elif signum == signal.SIGHUP and not self._stopping:
                            self.reload()
                else:
                    self._read_ready()
            self._reap()
            now = time.monotonic()
            if self._stopping:
                if all(w.proc is None for w in self.workers):
                    return 1 if self._failed else 0
                if now >= self._stop_deadline:
                    self._kill_stragglers()
                continue
            for w in self.workers:
                if w.start_at is not None and now >= w.start_at:
                    self._restart(w)

    def _timeout(self) -> float:
        due = [w.start_at for w in self.workers if w.start_at is not None]
        if self._stopping:
            due.append(self._stop_deadline)
        # poll every second as well: a SIGCHLD coalesced with another is not missed
        return max(0.0, min([time.monotonic() + 1.0, *due]) - time.monotonic())

    # ------------------------------------------------------------------ workers

    def _start(self, w: Worker) -> None:
        w.generation += 1
        w.start_at = None
        w.ready = False
        seat = Seat(os.getpid(), self.sock.fileno(), self._ready_w, w.index,
                    len(self.workers), w.generation)
        w.proc = subprocess.Popen(
            [*self.command, "--worker-of", seat.arg()],
            pass_fds=(self.sock.fileno(), self._ready_w),
            stdin=subprocess.DEVNULL,
            process_group=0,  # Ctrl-C reaches the supervisor alone; it forwards one SIGTERM
        )
        w.started = time.monotonic()

    def _restart(self, w: Worker) -> None:
        try:
            self._start(w)
        except OSError as e:  # out of processes or descriptors: try again later
            w.proc = None
            w.start_at = time.monotonic() + MAX_RESTART_DELAY_S
            self.say(f"axtui serve: worker {w.index} could not be started ({e}); "
                     f"trying again in {MAX_RESTART_DELAY_S:.0f} s")

    def _read_ready(self) -> None:
        try:
            self._buffer += os.read(self._ready_r, 4096)
        except BlockingIOError:
            return
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            index, _, pid = line.decode(errors="replace").partition(" ")
            w = next((w for w in self.workers if str(w.index) == index), None)
            if w is None or w.pid is None or str(w.pid) != pid:
                continue  # a worker since replaced
            w.ready = True
            if self.all_ready:  # a replacement
                self.say(f"  worker {w.index} ready again (pid {pid})")
        if not self.all_ready and all(w.ready for w in self.workers):
            self.all_ready = True
            pids = ", ".join(str(w.pid) for w in self.workers)
            self.say(f"  {len(self.workers)} workers ready (pids {pids})")

    def _reap(self) -> None:
        self._read_ready()  # a worker's "ready" written just before it died counts first
        for w in self.workers:
            if w.proc is None:
                continue
            code = w.proc.poll()
            if code is not None:
                self._exited(w, code)

    def _exited(self, w: Worker, code: int) -> None:
        pid, lived = w.pid, time.monotonic() - w.started
        w.proc = None
        if self._stopping:
            if code != 0:
                self._failed = f"worker {w.index} (pid {pid}) {exit_words(code)}"
                self.say(f"axtui serve: {self._failed} while stopping")
            return
        what = f"worker {w.index} (pid {pid}) {exit_words(code)}"
        if not w.ready and not self.all_ready:  # it failed to start: so does the fleet
            self._failed = what
            self.say(f"axtui serve: {what} before it was ready; stopping")
            self.stop()
            return
        w.quick_exits = w.quick_exits + 1 if lived < QUICK_EXIT_S else 0
        delay = min(MAX_RESTART_DELAY_S, 2.0 ** w.quick_exits) if w.quick_exits else 0.0
        plan = ("not restarting it" if not self.restart else
                f"restarting it in {delay:.0f} s" if delay else "restarting it")
        self.say(f"axtui serve: {what} after {lived:.0f} s; {plan}")
        self._note(w, pid, code, lived)
        if self.restart:
            self.restarts += 1
            w.start_at = time.monotonic() + delay

    def _note(self, w: Worker, pid: int | None, code: int, lived: float) -> None:
        if self.note is None:
            return
        detail = {"summary": f"worker {w.index} (pid {pid}) {exit_words(code)} after "
                             f"{lived:.0f} s" + ("; restarted" if self.restart else ""),
                  "index": w.index, "pid": pid, "code": code, "lived_s": round(lived, 3),
                  "restarted": self.restart}
        try:
            self.note(EVENT_KIND, f"{socket.gethostname()} worker {w.index}", detail)
        except Exception as e:  # the stderr line has said it; the store may be down
            self.note_errors += 1
            log.warning("worker exit event not stored: %s: %s", type(e).__name__, e)

    def reload(self) -> None:
        """SIGHUP: every live worker re-reads the config (a worker not yet started reads
        the file as it starts anyway)."""
        sent = 0
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(signal.SIGHUP)
                    sent += 1
        self.say(f"axtui serve: SIGHUP: {sent} workers reload the config")

    # ------------------------------------------------------------------ stop

    def stop(self) -> None:
        """Begin an orderly stop (a second call forwards a second signal: forced)."""
        if not self._stopping:
            self._stopping = True
            self._stop_deadline = time.monotonic() + self.grace_s + STOP_SLACK_S
        for w in self.workers:
            w.start_at = None
            if w.proc is not None and w.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(signal.SIGTERM)

    def _kill_stragglers(self) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                self._failed = f"worker {w.index} (pid {w.pid}) did not stop in time"
                self.say(f"axtui serve: {self._failed}; killing it")
                w.proc.kill()
        self._stop_deadline = time.monotonic() + 5.0  # reaped within a tick or two


def _noop(signum: int, frame: object) -> None:
    """The signal's byte on the wakeup socket is what the loop acts on."""


def _drain(wake: socket.socket) -> list[int]:
    out: list[int] = []
    while True:
        try:
            data = wake.recv(512)
        except (BlockingIOError, InterruptedError):
            return out
        if not data:
            return out
        out.extend(data)
