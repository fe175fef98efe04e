"""The little of ASGI the gateway needs: read a bounded body, send a whole response.

No framework: a request is `(scope, receive, send)`, headers are lists of byte pairs,
and the fixed headers are encoded once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from axtui.gateway.errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Header = tuple[bytes, bytes]

JSON: list[Header] = [(b"content-type", b"application/json")]
SSE: list[Header] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies must not buffer a stream
]


class ClientGone(Exception):
    """The client disconnected before its request was read."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope["headers"]:
        if k == name:
            return v
    return None


async def read_body(receive: Receive, declared: bytes | None, limit: int,
                    timeout_s: float) -> bytes:
    """The whole body, or ApiError 413 past `limit` bytes (before reading, when the
    content-length says so) or 408 when the client stops sending for `timeout_s`."""
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid content-length header") from None
        if size > limit:
            raise too_large(limit)
    try:
        async with asyncio.timeout(timeout_s):
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise ClientGone
            body = msg.get("body", b"")
            if not msg.get("more_body"):
                if len(body) > limit:
                    raise too_large(limit)
                return body
            parts, size = [body], len(body)
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    raise ClientGone
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                parts.append(chunk)
                if not msg.get("more_body"):
                    return b"".join(parts)
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout_s:g}s",
                       code="request_timeout") from None


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than the gateway's limit of {limit} bytes",
                    code="request_too_large")


async def respond(send: Send, status: int, body: bytes, headers: list[Header]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, data: Any, status: int = 200,
                       headers: list[Header] | None = None) -> None:
    await respond(send, status, orjson.dumps(data), JSON + (headers or []))


async def respond_error(send: Send, err: ApiError, headers: list[Header] | None = None) -> None:
    await respond(send, err.status, err.body(), JSON + err.headers + (headers or []))
