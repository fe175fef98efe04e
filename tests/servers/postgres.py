"""A real PostgreSQL server for tests and benches: `initdb` + `postgres` as a plain process.

No systemd, no system cluster: a temporary data directory, a free port on 127.0.0.1, no
Unix socket. As root the server runs as the `postgres` user (PostgreSQL refuses root);
otherwise as the current user. A plain module (no pytest import), so bench scripts and other
test packages can start one too:

    from tests.servers.postgres import start_postgres, PostgresUnavailable
    with start_postgres() as pg:
        url = pg.create_database("bench")   # postgresql+psycopg://postgres@127.0.0.1:PORT/bench
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT_S = 60.0
SUPERUSER = "postgres"
_names = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (the reason says where we looked)."""


def find_bindir() -> Path | None:
    """The directory holding `initdb` and `postgres`: PATH first, then Debian's layout
    (newest major version first)."""
    on_path = shutil.which("postgres")
    if on_path:
        bindir = Path(on_path).resolve().parent
        if (bindir / "initdb").exists():
            return bindir
    candidates = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    for found in reversed(candidates):
        bindir = Path(found).parent
        if (bindir / "initdb").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> str | None:
    """The user the server runs as: `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError as err:
        raise PostgresUnavailable(f"running as root but there is no {SUPERUSER!r} user") from err
    return SUPERUSER


def _die_with_parent() -> None:
    # The server stops (fast shutdown) if the process that started it dies without stopping it.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


class PostgresServer:
    """A running server; `create_database()` hands out a fresh database URL."""

    def __init__(self, bindir: Path, datadir: Path, port: int, proc: subprocess.Popen) -> None:
        self.bindir = bindir
        self.datadir = datadir
        self.port = port
        self.host = "127.0.0.1"
        self._proc = proc

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The libpq form (for psycopg.connect)."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """A new database, empty or a copy of `template` (a database no one is connected
        to); returns its SQLAlchemy URL."""
        name = name or f"axtui_{os.getpid()}_{next(_names)}"
        source = f'"{template}" STRATEGY FILE_COPY' if template else "template0"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE {source}')
        return self.url(name)

    def drop_database(self, url_or_name: str) -> None:
        name = url_or_name.rsplit("/", 1)[-1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.datadir / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, exit
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(*, durable: bool = False, max_connections: int = 200) -> PostgresServer:
    """initdb a temporary cluster and start `postgres` on a free 127.0.0.1 port.

    `durable=False` (tests) turns fsync off; a bench comparing against SQLite's WAL
    (synchronous=NORMAL) passes durable=True to keep fsync on, with synchronous_commit off
    (like NORMAL: a crash may lose the last commits, never corrupt)."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL binaries (postgres/initdb on PATH or /usr/lib/postgresql/*/bin); "
            "install Debian's `postgresql` package"
        )
    user = _run_as()
    # Directly under /tmp: pytest's own temp dirs are 0700 root, which `postgres` can't enter.
    base = Path(tempfile.mkdtemp(prefix="axtui-pg-"))
    datadir = base / "data"
    datadir.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (base, datadir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(datadir), "-U", SUPERUSER, "--auth=trust",
         "--encoding=UTF8", "--no-sync"],
        user=user, env=env, capture_output=True, text=True, cwd=base,
    )  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr.strip()[-2000:]}")
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "max_connections": str(max_connections),
        "fsync": "on" if durable else "off",
        "synchronous_commit": "off",
        "full_page_writes": "on" if durable else "off",
        "shared_buffers": "128MB",
        "logging_collector": "off",
    }
    for _ in range(5):  # another process may take the port between our probe and the bind
        port = _free_port()
        args = [str(bindir / "postgres"), "-D", str(datadir), "-p", str(port)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        log = open(datadir / "server.log", "ab")  # noqa: SIM115 (the server holds it open)
        proc = subprocess.Popen(
            args, user=user, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        server = PostgresServer(bindir, datadir, port, proc)
        if _wait_ready(server):
            return server
        tail = server.log_tail()
        server._proc.kill()
        server._proc.wait()
        if "could not bind" not in tail and "Address already in use" not in tail:
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"postgres did not start on port {port}:\n{tail}")
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError("postgres could not bind a free port after 5 tries")


def _wait_ready(server: PostgresServer) -> bool:
    """True once the server accepts a connection; False if it exited first."""
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.running:
            return False
        try:
            with psycopg.connect(server.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            time.sleep(0.05)  # the server is still starting: its socket is not up yet
    return False
