"""The sim's ASGI app: each upstream under /u/<name>/ speaking its vendor's wire format, with
the faults its plan says; the control endpoint under /_sim/ (control.py).

With a single upstream its paths are also served at the root, so `sim serve --protocol
anthropic` is an Anthropic base URL as it stands.

Timing of an answer (times x the latency factor, + slow_first_byte before anything):
- plain: the whole answer after latency_ms (+/- jitter_ms);
- stream: status, headers and the first token's frame (with any before it) after ttft_ms,
  then each token's frame chunk_ms after the one before, the closing frames at once;
- error and rate limit: after ttft_ms (an upstream refuses about as fast as it starts).
Outages never answer: `reset` aborts the connection (RST), `close` closes it (FIN),
`hang` holds it until the client leaves.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from axtui.sim import control
from axtui.sim.faults import Plan, roll
from axtui.sim.state import SimState
from axtui.sim.wire import Answer, Call, Refusal, Wire, make_answer, wire_for

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
TRANSPORT_KEY = "axtui.sim.transport"  # set in the scope by server._Protocol
MAX_BODY = 16 * 1024 * 1024
_HANG_MAX_S = 600.0
log = logging.getLogger("axtui.sim")


def base_path(upstream: str, protocol: str) -> str:
    """The path a client's base URL ends in (OpenAI SDKs expect it to include /v1)."""
    return f"/u/{upstream}/v1" if protocol == "openai" else f"/u/{upstream}"


class SimApp:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.wires: dict[str, Wire] = {u.name: wire_for(u.protocol)
                                       for u in state.scenario.upstreams}
        self.base_paths = {u.name: base_path(u.name, u.protocol)
                           for u in state.scenario.upstreams}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.state.start_clock)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        try:
            if path.startswith("/_sim/") or path == "/_sim":
                body = await _read_body(receive)
                status, payload = control.handle(self.state, scope["method"], path,
                                                 scope.get("query_string", b""), body,
                                                 self.base_paths)
                await respond(send, status, {}, orjson.dumps(payload))
                return
            upstream, rest = self._route(path)
            if upstream is None:
                names = ", ".join(self.base_paths)
                await respond(send, 404, {}, control.error_json(
                    f"no upstream at {path}: paths are /u/<name>/... (upstreams: {names})",
                    "not_found"))
                return
            await self._call(scope, receive, send, upstream, rest)
        except BodyTooLarge:
            await respond(send, 413, {}, control.error_json(
                f"request body over {MAX_BODY} bytes", "request_too_large"))
        except ClientLeft:
            self.state.clients_left += 1
        except Exception:  # a sim bug: counted (in /_sim/stats), logged, answered 500
            self.state.sim_errors += 1
            log.exception("sim: error answering %s %s", scope["method"], path)
            await respond(send, 500, {}, control.error_json("sim internal error", "internal"))

    def _route(self, path: str) -> tuple[str | None, str]:
        if path.startswith("/u/"):
            name, _, rest = path[3:].partition("/")
            return (name, "/" + rest) if name in self.wires else (None, path)
        if len(self.wires) == 1:
            return next(iter(self.wires)), path
        return None, path

    async def _call(self, scope: dict[str, Any], receive: Receive, send: Send,
                    upstream: str, path: str) -> None:
        state = self.state
        wire = self.wires[upstream]
        u = state.upstreams[upstream]
        raw = await _read_body(receive)
        number, _, plan = state.begin_call(upstream)
        if plan.first_byte_delay_s:
            await asyncio.sleep(plan.first_byte_delay_s)
        if plan.outage:
            state.end_call(upstream, "outage")
            await _drop(scope, receive, plan.outage)
            return
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        call = wire.read(scope["method"], path, query, headers, body)
        jitter = (roll(state.seed, upstream, number, "jitter") * 2 - 1) * u.jitter_ms
        rid = f"sim-{upstream}-{state.restarts}-{number:06d}"
        if isinstance(call, Refusal):
            state.end_call(upstream, "refused")
            await respond(send, call.status, {}, call.body, wire.json_type)
            return
        if plan.rate_limit is not None or plan.status is not None:
            await asyncio.sleep(max(0.0, u.ttft_ms + jitter) * plan.factor / 1000)
            await self._refuse(send, wire, plan, call, upstream, rid)
            return
        answer = make_answer(call, rid, u.output_tokens, number)
        window = state.window(upstream, answer.prompt_tokens + len(answer.tokens))
        shown = u.ratelimit_headers == "all" or (u.ratelimit_headers == "plain"
                                                   and not call.stream)
        out_headers = wire.ok_headers(answer, window if shown else None, time.time())
        if not call.stream:
            await asyncio.sleep(max(0.0, u.latency_ms + jitter) * plan.factor / 1000)
            await respond(send, 200, out_headers, wire.body(call, answer), wire.json_type)
            state.end_call(upstream, "ok")
            return
        await self._stream(scope, receive, send, wire, call, plan, answer, out_headers,
                           first_s=max(0.0, u.ttft_ms + jitter) * plan.factor / 1000,
                           gap_s=u.chunk_ms * plan.factor / 1000, upstream=upstream)

    async def _refuse(self, send: Send, wire: Wire, plan: Plan, call: Call, upstream: str,
                      rid: str) -> None:
        state, u = self.state, self.state.upstreams[upstream]
        if plan.rate_limit is not None:
            f = plan.rate_limit
            headers, body = wire.rate_limited(
                status=f.error_status, retry_after_s=f.retry_after_s, remaining=f.remaining,
                reset_s=f.reset_s, limit=u.rpm_limit, model=call.model, now=time.time(),
                request_id=f"req_{rid}")
            await respond(send, f.error_status, headers, body, wire.json_type)
            state.end_call(upstream, "rate_limited")
            return
        assert plan.status is not None
        headers, body = wire.error(plan.status, f"req_{rid}")
        await respond(send, plan.status, headers, body, wire.json_type)
        state.end_call(upstream, "error")

    async def _stream(self, scope: dict[str, Any], receive: Receive, send: Send, wire: Wire,
                      call: Call, plan: Plan, answer: Answer, headers: dict[str, str], *,
                      first_s: float, gap_s: float, upstream: str) -> None:
        frames = wire.frames(call, answer)
        # a cut always loses the terminator, however late it is asked for
        cut = None if plan.cut_after is None else min(plan.cut_after, len(frames) - 1)
        ctype = wire.sse_type if call.sse else wire.json_type
        await asyncio.sleep(first_s)
        await send({"type": "http.response.start", "status": 200,
                    "headers": _headers(headers, ctype, None)})
        transport = scope.get(TRANSPORT_KEY)
        lead, tokens = wire.leading_frames, len(answer.tokens)
        for i, frame in enumerate(frames):
            if i == cut:
                self.state.end_call(upstream, "cut")
                await _drop(scope, receive, "close")
                return
            if transport is not None and transport.is_closing():
                self.state.end_call(upstream, "client_left")
                return
            if gap_s and lead < i < lead + tokens:  # a token after the first
                await asyncio.sleep(gap_s)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        self.state.end_call(upstream, "ok")


class BodyTooLarge(Exception):
    pass


class ClientLeft(Exception):
    pass


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientLeft
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


def _headers(headers: dict[str, str], content_type: str,
             length: int | None) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type.encode())]
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    else:
        out.append((b"cache-control", b"no-cache"))
    out.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    return out


async def respond(send: Send, status: int, headers: dict[str, str], body: bytes,
                  content_type: str = "application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": _headers(headers, content_type, len(body))})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drop(scope: dict[str, Any], receive: Receive, mode: str) -> None:
    """End the connection without (the rest of) an answer, then wait until the server has
    seen it go, so the server does not report an unfinished response."""
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        raise RuntimeError("the sim's connection drops need server._Protocol (axtui sim serve)")
    if mode == "hang":
        try:
            await asyncio.wait_for(_until_disconnect(receive), _HANG_MAX_S)
            return
        except TimeoutError:
            mode = "close"
    if mode == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close sends RST, not FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    await _until_disconnect(receive)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _lifespan(receive: Receive, send: Send, on_startup: Callable[[], None]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
