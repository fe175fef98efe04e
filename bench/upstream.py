"""A fast fake OpenAI-compatible upstream for the gateway benchmark.

    python bench/upstream.py --port 9100 [--latency-ms 20]

POST /v1/chat/completions answers a valid non-streaming `chat.completion` (with usage)
after a fixed latency; with `"stream": true`, server-sent events instead: the first chunk
(role and first word) after the latency, then one word every `--chunk-gap-ms` (each its own
write, so each reaches the reader apart), `max_tokens` words in all (default 10), a finish
chunk, usage when `stream_options.include_usage`, and `[DONE]`. GET /stats returns how many
completions it served per requested model (the bench tells direct calls from the gateway's
by model name).

Raw asyncio protocol + httptools parser on uvloop, no framework: it shares two cores
with the gateway and wrk, so every microsecond it spends is taken from the gateway.

The latency is exact, from each request's arrival: a Linux timerfd (nanoseconds) wakes the
loop when the oldest waiting answer is due. uvloop's own timers (libuv's) count whole
milliseconds from the loop's cached clock, so `call_later(0.020)` answered every request
that arrived within the same millisecond at the same instant, 19-21 ms after it came: the
fake re-bunched requests a proxy had spread out, and the proxy then queued them behind each
other, a cost no real upstream (whose latency is not quantized) imposes. Direct calls get
the same exact latency. Where timerfd is missing, `call_later` is the fallback.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import itertools
import os
import time
from collections import Counter, deque
from collections.abc import Callable

import httptools
import orjson
import uvloop

_ids = itertools.count(1)
served: Counter[str] = Counter()  # completions served per requested model


def completion_body(request_body: bytes) -> tuple[int, bytes]:
    """Status and JSON body for one chat request: a short fixed answer, usage counted
    roughly from the prompt size so the gateway's cost path has real numbers."""
    try:
        req = orjson.loads(request_body)
        model = str(req["model"])
        messages = req["messages"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        err = {"error": {"message": "bad request body", "type": "invalid_request_error"}}
        return 400, orjson.dumps(err)
    served[model] += 1
    prompt_chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    prompt_tokens = max(1, prompt_chars // 4)
    body = {
        "id": f"chatcmpl-bench{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The quick brown fox."},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 6,
            "total_tokens": prompt_tokens + 6,
        },
        "system_fingerprint": "fp_bench",
    }
    return 200, orjson.dumps(body)


_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}


def stream_plan(request_body: bytes) -> tuple[str, int, bool] | None:
    """(model, words, include_usage) for a streaming request; None for a plain one."""
    try:
        req = orjson.loads(request_body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(req, dict) or req.get("stream") is not True:
        return None
    served[str(req.get("model"))] += 1
    words = req.get("max_tokens") or req.get("max_completion_tokens") or 10
    usage = bool((req.get("stream_options") or {}).get("include_usage"))
    return str(req.get("model")), max(1, min(int(words), 1000)), usage


STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
               b"transfer-encoding: chunked\r\n\r\n")


def sse_chunk(payload: dict | str) -> bytes:
    data = b"data: " + (payload.encode() if isinstance(payload, str) else orjson.dumps(payload))
    data += b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def stream_frames(model: str, words: int, usage: bool) -> list[bytes]:
    """Each write of one streamed answer: the head with the first word, then one a word."""
    cid = f"chatcmpl-bench{next(_ids)}"
    created = int(time.time())

    def delta(d: dict, finish: str | None = None) -> bytes:
        return sse_chunk({"id": cid, "object": "chat.completion.chunk", "created": created,
                          "model": model, "choices": [{"index": 0, "delta": d,
                                                       "finish_reason": finish}]})

    frames = [STREAM_HEAD + delta({"role": "assistant", "content": "word0"})]
    frames += [delta({"content": f" word{i}"}) for i in range(1, words)]
    tail = delta({}, "stop")
    if usage:
        tail += sse_chunk({"id": cid, "object": "chat.completion.chunk", "created": created,
                           "model": model, "choices": [],
                           "usage": {"prompt_tokens": 8, "completion_tokens": words,
                                     "total_tokens": 8 + words}})
    frames[-1] += tail + sse_chunk("[DONE]") + b"0\r\n\r\n"
    return frames


def http_response(status: int, body: bytes, keep_alive: bool) -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        status,
        _REASONS[status],
        len(body),
    )
    if not keep_alive:
        head += b"connection: close\r\n"
    return head + b"\r\n" + body


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_CLOCK_MONOTONIC = 1  # time.monotonic()'s clock on Linux
_TFD_NONBLOCK, _TFD_CLOEXEC, _TFD_TIMER_ABSTIME = os.O_NONBLOCK, os.O_CLOEXEC, 1


class Delays:
    """Run callbacks at exact times on the monotonic clock. With one fixed latency, answers
    fall due in arrival order: a FIFO and one timerfd armed for its head suffice."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.due: deque[tuple[float, Callable[..., None], tuple]] = deque()
        self.fd = -1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._settime = libc.timerfd_settime
            fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        except (OSError, AttributeError):  # not Linux: call_later (ms-granular) instead
            return
        if fd >= 0:
            self.fd = fd
            loop.add_reader(fd, self._fire)

    def at(self, when: float, fn: Callable[..., None], *args: object) -> None:
        if self.fd < 0:
            self.loop.call_later(max(0.0, when - time.monotonic()), fn, *args)
            return
        self.due.append((when, fn, args))
        if len(self.due) == 1:
            self._arm(when)

    def _arm(self, when: float) -> None:
        sec = int(when)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, int((when - sec) * 1e9) or 1))
        if self._settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _fire(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return  # re-armed for a later time before this wake-up was read
        due, now = self.due, time.monotonic()
        while due and due[0][0] <= now:
            _, fn, args = due.popleft()
            fn(*args)
        if due:
            self._arm(due[0][0])


_delays: Delays | None = None


class UpstreamProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection; requests answered in order (clients here never pipeline,
    and a fixed latency keeps answers due in arrival order)."""

    def __init__(self, latency_s: float, gap_s: float) -> None:
        self.latency_s = latency_s
        self.gap_s = gap_s
        self.arrived = 0.0
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(http_response(400, b'{"error":{"message":"bad http"}}', False), True)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.arrived = time.monotonic()
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        keep_alive = self.parser.should_keep_alive()
        path = self.url.split(b"?", 1)[0]
        plan = None
        if path == b"/v1/chat/completions" and method == b"POST":
            raw = b"".join(self.body)
            plan = stream_plan(raw)
            if plan is not None:
                frames = stream_frames(*plan)
                if self.latency_s > 0:
                    assert _delays is not None
                    _delays.at(self.arrived + self.latency_s, self._stream, frames, 0)
                else:
                    self._stream(frames, 0)
                return
            status, body = completion_body(raw)
        elif path == b"/stats" and method == b"GET":
            status, body = 200, orjson.dumps(dict(served))
        else:
            status, body = 404, b'{"error":{"message":"not found","type":"not_found"}}'
        payload = http_response(status, body, keep_alive)
        if self.latency_s > 0 and path != b"/stats":
            assert _delays is not None
            _delays.at(self.arrived + self.latency_s, self._send, payload, not keep_alive)
        else:
            self._send(payload, not keep_alive)

    def _stream(self, frames: list[bytes], i: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(frames[i])
        if i + 1 < len(frames):
            asyncio.get_running_loop().call_later(self.gap_s, self._stream, frames, i + 1)

    def _send(self, payload: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # the client went away while we "thought"
        self.transport.write(payload)
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int, latency_ms: float, gap_ms: float = 1.0) -> None:
    global _delays
    loop = asyncio.get_running_loop()
    _delays = Delays(loop)
    server = await loop.create_server(
        lambda: UpstreamProtocol(latency_ms / 1000, gap_ms / 1000), host, port, backlog=2048,
        reuse_address=True,
    )
    print(f"upstream listening on http://{host}:{port} latency {latency_ms:g} ms", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay per completion")
    ap.add_argument("--chunk-gap-ms", type=float, default=1.0,
                    help="between a stream's words")
    args = ap.parse_args()
    try:
        uvloop.run(serve(args.host, args.port, args.latency_ms, args.chunk_gap_ms))
    except KeyboardInterrupt:
        return  # Ctrl-C is how a person stops it: no traceback


if __name__ == "__main__":
    main()
