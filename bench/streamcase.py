"""The gateway benchmark's streaming case: what the gateway adds to a stream's first
chunk, and its CPU per chunk relayed.

A blocking keep-alive socket client (one per path, so neither pays a connect), requests
alternating straight to the fake upstream and through the gateway, one at a time:
  - time to first chunk: from the request's send to the first byte of the first event
    carrying content;
  - CPU per chunk: the gateway's process tree CPU over streams of 10 and of 50 words; the
    difference over the 40 extra chunks is what one chunk costs, request costs aside.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

_FIRST = b'"content":"'
_END = b"0\r\n\r\n"


@dataclass
class StreamClient:
    """One keep-alive connection that sends streaming chat requests and reads each answer
    to its end."""

    url: str
    model: str
    sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        u = urlsplit(self.url)
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _send(self, words: int, stream: bool) -> float:
        body = orjson.dumps({"model": self.model, "stream": stream, "max_tokens": words,
                             "messages": [{"role": "user", "content": "Say words."}]})
        u = urlsplit(self.url)
        head = (f"POST {u.path} HTTP/1.1\r\nhost: {u.netloc}\r\n"
                "content-type: application/json\r\nauthorization: Bearer bench\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode()
        if self.sock is None:
            self.sock = self._connect()
        t0 = time.perf_counter()
        self.sock.sendall(head + body)
        return t0

    def plain(self, words: int) -> float:
        """A non-streaming request on the same connection: seconds to its whole answer."""
        t0 = self._send(words, False)
        assert self.sock is not None
        got = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError(f"{self.url}: connection closed: {got[-200:]!r}")
            got += data
            head, sep, body = got.partition(b"\r\n\r\n")
            if not sep:
                continue
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{self.url}: {got[:300]!r}")
            length = _content_length(head)
            if len(body) >= length:
                return time.perf_counter() - t0

    def one(self, words: int) -> tuple[float, float]:
        """(time to first content chunk, time to the answer's end), seconds."""
        t0 = self._send(words, True)
        assert self.sock is not None
        got = b""
        first = None
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError(f"{self.url}: connection closed mid-stream: {got[-200:]!r}")
            got += data
            if first is None:
                at = got.find(_FIRST)
                if at >= 0 and len(got) > at + len(_FIRST) and got[at + len(_FIRST)] != 34:
                    first = time.perf_counter() - t0
            if b"[DONE]" in got and got.endswith(_END):
                break
            if not got.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in got:
                raise RuntimeError(f"{self.url}: {got[:300]!r}")
        if first is None:
            raise RuntimeError(f"{self.url}: no content in the stream: {got[:300]!r}")
        return first, time.perf_counter() - t0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise RuntimeError(f"an answer without content-length: {head[:300]!r}")


def pct(values: list[float], q: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
