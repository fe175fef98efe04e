"""What `axtui serve` and `axtui sim serve` share about serving on uvicorn: binding the
listening socket (one clear line when the address is taken), and a server that exits 0
after a graceful SIGTERM instead of re-raising it."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn


def bind(host: str, port: int, backlog: int | None = None) -> socket.socket:
    """A bound socket (listening too, with `backlog`); OSError with one line if not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        if backlog is not None:
            sock.listen(backlog)
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock


class CleanExitServer(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM after a graceful shutdown, so the process would
    die of it; a server that drained cleanly exits 0 instead. Off the main thread (a server
    in a test's thread) signals are left alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        sigs = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
