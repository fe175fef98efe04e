"""POST /v1/feedback: a caller rates a request it made.

    {"request_id": "chatcmpl-g1a2b...", "score": 1, "label": "helpful", "comment": "..."}

- `request_id` is the completion's `id` (the `chatcmpl-` prefix is optional) or the
  record id from `x-request-id`; a request the gateway has not recorded is a 404;
- only the caller key that made the request may rate it: another key's request is the same
  404 as an unknown one (request ids are not exposed across keys);
- `score` is on the config's `[feedback] scale`: any number in -1..1, or a whole 1..5;
- `comment` is kept only when the request's route captures content (`capture_content`);
  the answer says whether it was (`comment_stored`);
- a second rating of the same request replaces the first.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from axtui.gateway.admin_input import json_body
from axtui.gateway.asgi import Receive, Scope, Send, header, respond_json
from axtui.gateway.errors import ApiError, bad_request
from axtui.gateway.services import Services, services
from axtui.records import RequestRecord

log = logging.getLogger(__name__)

MAX_LABEL = 64
MAX_COMMENT = 4000
_FIELDS = ("request_id", "score", "label", "comment")


async def feedback(scope: Scope, receive: Receive, send: Send) -> None:
    gw = services(scope)
    key = gw.authenticate(header(scope, b"authorization"))
    body = await json_body(scope, receive)
    request_id, score, label, comment = parse_feedback(body, gw.config.feedback.scale)
    record = await _find(gw, request_id)
    key_id = key.id if key is not None else None
    if record is None or record.key_id != key_id:
        raise ApiError(404, f"No request {request_id!r} made with this API key to rate",
                       code="request_not_found", param="request_id")
    route = gw.config.routes.get(record.route)
    keep = comment is not None and route is not None and route.capture_content
    await asyncio.to_thread(gw.store.rate, record, score, label, comment if keep else None)
    if gw.metrics is not None and gw.metrics.ratings is not None:
        gw.metrics.ratings.observe(record, score)
    await respond_json(send, {
        "object": "feedback", "request_id": record.id, "score": score, "label": label,
        "comment_stored": keep, "route": record.route, "deployment": record.deployment})


def parse_feedback(body: dict[str, Any], scale: str
                   ) -> tuple[str, float, str | None, str | None]:
    """The body's fields checked (400 naming the first one wrong)."""
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise bad_request(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    rid = body.get("request_id")
    if not isinstance(rid, str) or not rid.strip():
        raise bad_request("request_id: a string is required (the completion's id)",
                          "request_id")
    rid = rid.strip().removeprefix("chatcmpl-")
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise bad_request(f"score: a number on the scale {scale} is required", "score")
    lo, hi = (-1, 1) if scale == "-1..1" else (1, 5)
    if not lo <= score <= hi or (scale == "1..5" and score != int(score)):
        what = "a whole number" if scale == "1..5" else "a number"
        raise bad_request(f"score: {score!r} is not {what} in {scale}", "score")
    label = _text(body, "label", MAX_LABEL)
    comment = _text(body, "comment", MAX_COMMENT)
    return rid, float(score), label, comment


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    v = body.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        raise bad_request(f"{name}: a string is expected", name)
    if len(v) > limit:
        raise bad_request(f"{name}: at most {limit} characters ({len(v)} given)", name)
    return v or None


async def _find(gw: Services, record_id: str) -> RequestRecord | None:
    """The record; when not stored yet, after the recorder's queue is written (a rating
    may follow its answer faster than the recorder's flush interval)."""
    record = await asyncio.to_thread(gw.store.get_record, record_id)
    if record is not None:
        return record
    aflush = getattr(gw.recorder, "aflush", None)
    if aflush is not None:
        await aflush(5.0)
    elif gw.recorder is not None:
        await asyncio.to_thread(gw.recorder.flush)
    return await asyncio.to_thread(gw.store.get_record, record_id)
