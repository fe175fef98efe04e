"""A loopback webhook receiver (127.0.0.1, stdlib HTTP server in a thread): answers each
POST with the next scripted status (200 once the script runs out) and hands every request
to a queue, so tests wait for a delivery instead of sleeping."""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, statuses: list[int] | None = None, *, hold: threading.Event | None = None):
        self.statuses = deque(statuses or [])
        self.hold = hold  # when set, every answer waits for it
        self.received: queue.Queue[tuple[int, str, dict]] = queue.Queue()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if owner.hold is not None:
                    owner.hold.wait(10)
                status = owner.statuses.popleft() if owner.statuses else 200
                owner.received.put((status, self.path, body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def next(self, timeout: float = 10.0) -> tuple[int, str, dict]:
        return self.received.get(timeout=timeout)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()
