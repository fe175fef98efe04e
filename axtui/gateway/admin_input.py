"""What admin operations read from a request: a small JSON object body, and who acts."""

from __future__ import annotations

from typing import Any

import orjson

from axtui.gateway.asgi import Receive, Scope, header, read_body
from axtui.gateway.errors import bad_request

ADMIN_BODY_LIMIT = 64 * 1024


async def json_body(scope: Scope, receive: Receive) -> dict[str, Any]:
    """The body as a JSON object ({} when empty); 400 otherwise."""
    raw = await read_body(receive, header(scope, b"content-length"), ADMIN_BODY_LIMIT, 10.0)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def by_whom(body: dict[str, Any]) -> str:
    """The `by` field: who made the change (the audit log names them)."""
    by = body.get("by", "admin-api")
    if not isinstance(by, str) or not by.strip():
        raise bad_request("by: expected a non-empty string (who did this)", "by")
    return by.strip()
