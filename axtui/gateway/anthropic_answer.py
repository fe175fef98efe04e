"""The engine's answers (OpenAI's chat shape, whichever provider served them) as Anthropic's
Messages API sends them: a `message` body, the SSE events of a stream, and errors as
`{"type": "error", "error": {"type", "message"}}` with Anthropic's statuses.

Stream events, in Anthropic's order: message_start, ping, then per content block
content_block_start / content_block_delta (text_delta, input_json_delta) /
content_block_stop, then message_delta (stop_reason and the final usage) and message_stop.
A failure after the stream began is one `error` event, and the stream ends there.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from axtui.gateway.errors import ApiError
from axtui.providers.base import ChatChunk, ChatResponse
from axtui.records import Usage

log = logging.getLogger(__name__)

# finish_reason → stop_reason
_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# the gateway's status → Anthropic's: no upstream answered (all overloaded, down or
# unreachable) is Anthropic's 529; an upstream's failure is its 500
STATUSES = {502: 500, 503: 529}  # also the records' (RequestContext.statuses)
_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def stop_reason(finish: str | None, tool_calls: bool,
                stop_sequence: str | None = None) -> str:
    reason = _STOP.get(finish or "stop", "end_turn")
    if reason == "end_turn" and tool_calls:  # some providers say `stop` after a tool call
        return "tool_use"
    if reason == "end_turn" and stop_sequence is not None:  # the upstream said which one
        return "stop_sequence"
    return reason


def _stop_fields(refused: bool, finish: str | None, tool_calls: bool,
                 sequence: str | None) -> dict[str, Any]:
    """`stop_reason` and `stop_sequence`, the latter only beside stop_reason stop_sequence
    (an upstream that cannot say which sequence stopped it reads as end_turn)."""
    reason = "refusal" if refused else stop_reason(finish, tool_calls, sequence)
    return {"stop_reason": reason,
            "stop_sequence": sequence if reason == "stop_sequence" else None}


def usage_json(u: Usage | None) -> dict[str, int]:
    """Anthropic counts cache reads and cache writes apart from `input_tokens`; the
    engine's prompt_tokens include both (OpenAI's meaning)."""
    u = u or Usage()
    cached = min(u.cached_prompt_tokens, u.prompt_tokens)
    written = min(u.cache_write_tokens, u.prompt_tokens - cached)
    return {
        "input_tokens": u.prompt_tokens - cached - written,
        "output_tokens": u.completion_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def _tool_input(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    text = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(text)
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise ApiError(502, f"the upstream's call of tool {fn.get('name')!r} has arguments "
                            "that are not a JSON object, which a tool_use block cannot carry",
                       type="server_error")
    return args


def message_body(resp: ChatResponse, msg_id: str, model: str) -> bytes:
    """A `message`; `model` is the route the caller named (the deployment that served it
    is in the x-axtui-deployment header)."""
    content: list[dict[str, Any]] = []
    text = resp.content or resp.refusal  # a refusal's words are Claude's text, as Claude's are
    if text:
        content.append({"type": "text", "text": text})
    for call in resp.tool_calls:
        content.append({"type": "tool_use", "id": call.get("id") or f"toolu_{len(content)}",
                        "name": (call.get("function") or {}).get("name", ""),
                        "input": _tool_input(call)})
    return orjson.dumps({
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        **_stop_fields(bool(resp.refusal), resp.finish_reason, bool(resp.tool_calls),
                       resp.stop_sequence),
        "usage": usage_json(resp.usage),
    })


def _event(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessageEvents:
    """The SSE events of one stream, from the engine's chunks. Text opens a text block,
    each tool call (by its OpenAI `index`) a tool_use block; a new block closes the last."""

    __slots__ = ("_id", "_model", "_blocks", "_open", "_tools", "_finish", "_refused",
                 "_sequence")

    def __init__(self, msg_id: str, model: str) -> None:
        self._id, self._model = msg_id, model
        self._blocks = 0  # blocks started
        self._open: int | None = None  # the open block's index
        self._tools: dict[int, int] = {}  # tool call index → its block
        self._finish: str | None = None
        self._refused = False  # the upstream said `delta.refusal`: stop_reason "refusal"
        self._sequence: str | None = None  # the stop sequence the final chunk named

    def start(self, input_tokens: int) -> bytes:
        """message_start (with the engine's estimate of the input; message_delta carries
        the count the upstream reported) and a ping."""
        message = {"id": self._id, "type": "message", "role": "assistant", "model": self._model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": input_tokens, "output_tokens": 0,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        return (_event(b"message_start", {"type": "message_start", "message": message})
                + _event(b"ping", {"type": "ping"}))

    def _begin(self, block: dict[str, Any], out: list[bytes]) -> int:
        self._close(out)
        index = self._open = self._blocks
        self._blocks += 1
        out.append(_event(b"content_block_start", {"type": "content_block_start",
                                                   "index": index, "content_block": block}))
        return index

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_event(b"content_block_stop", {"type": "content_block_stop",
                                                      "index": self._open}))
            self._open = None

    def chunk(self, c: ChatChunk) -> bytes:
        out: list[bytes] = []
        if c.refusal:
            self._refused = True
        text = c.content or c.refusal
        if text:
            index = self._open
            if index is None or index in self._tools.values():
                index = self._begin({"type": "text", "text": ""}, out)
            out.append(_event(b"content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": text}}))
        for call in c.tool_calls or ():
            fn = call.get("function") or {}
            at = call.get("index", 0)
            index = self._tools.get(at)
            if index is None:
                index = self._tools[at] = self._begin({
                    "type": "tool_use", "id": call.get("id") or f"toolu_{self._id}_{at}",
                    "name": fn.get("name") or "", "input": {}}, out)
            if fn.get("arguments"):
                out.append(_event(b"content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": fn["arguments"]}}))
        if c.finish_reason:
            self._finish = c.finish_reason
        if c.stop_sequence is not None:
            self._sequence = c.stop_sequence
        return b"".join(out)

    def end(self, usage: Usage | None) -> bytes:
        """Close the last block; message_delta with the stop reason and the usage the
        engine recorded; message_stop."""
        out: list[bytes] = []
        self._close(out)
        out.append(_event(b"message_delta", {
            "type": "message_delta",
            "delta": _stop_fields(self._refused, self._finish, bool(self._tools),
                                  self._sequence),
            "usage": usage_json(usage)}))
        out.append(_event(b"message_stop", {"type": "message_stop"}))
        return b"".join(out)


# --------------------------------------------------------------------------- errors


def error_status(status: int) -> tuple[int, str]:
    """The gateway's status → (Anthropic's status, its error type)."""
    status = STATUSES.get(status, status)
    etype = _TYPE.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return status, etype


def error_body(err: ApiError, request_id: str | None = None) -> tuple[int, bytes]:
    status, etype = error_status(err.status)
    body: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": err.message}}
    if request_id:
        body["request_id"] = request_id
    return status, orjson.dumps(body)


def error_event(err: ApiError) -> bytes:
    """An error after the stream began: Anthropic's `error` event, which its SDKs raise."""
    _, body = error_body(err)
    return b"event: error\ndata: " + body + b"\n\n"
