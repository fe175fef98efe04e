"""OpenAI's chat-completions wire format on the gateway side: the request body validated by
hand into a ChatRequest (each 400 names the field: `messages[2].role: expected one of ...`),
and answers shaped as `chat.completion` bodies and `chat.completion.chunk` SSE frames.

Where OpenAI's API refuses a request, so does the gateway, with a 400 naming the field:
wrong types (`n: true`, `name: 5`, tool-call `arguments` as an object), content parts that
are empty or of a type the role cannot carry, tool names outside `^[a-zA-Z0-9_-]{1,64}$`.
Beyond OpenAI, and said so: names with control characters, JSON nested deeper than
`gateway.max_json_depth`, and `n` above 1 (one choice per request).
OpenAI's optional parameters (`seed`, penalties, `logprobs`, `metadata`, ...; see
providers/params.py) are type-checked as OpenAI does and carried in `ChatRequest.params` for
the adapters; audio output (`modalities` with "audio") is refused, as the gateway cannot relay
it. Unknown fields are ignored, as many OpenAI-compatible clients send extras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from axtui.gateway.errors import ApiError, bad_request
from axtui.providers.base import ChatChunk, ChatRequest, ChatResponse
from axtui.records import Usage

ROLES = ("system", "developer", "user", "assistant", "tool")
_ROLE_SET = frozenset(ROLES)
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
_FORMATS = frozenset({"text", "json_object", "json_schema"})
# content part types each role may send (OpenAI's request schema)
_PARTS: dict[str, frozenset[str]] = {
    "system": frozenset({"text"}), "developer": frozenset({"text"}),
    "user": frozenset({"text", "image_url", "input_audio", "file"}),
    "assistant": frozenset({"text", "refusal"}), "tool": frozenset({"text"}),
}
# a part type → the field it must carry and that field's JSON type
_PART_FIELD: dict[str, tuple[str, type]] = {
    "text": ("text", str), "refusal": ("refusal", str), "image_url": ("image_url", dict),
    "input_audio": ("input_audio", dict), "file": ("file", dict),
}
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
DEFAULT_MAX_DEPTH = 128


@dataclass(slots=True)
class ChatCall:
    request: ChatRequest
    include_usage: bool = False  # stream_options.include_usage


def parse_chat(raw: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> ChatCall:
    """The body of POST /v1/chat/completions, or an ApiError(400) naming the bad field."""
    body = load_object(raw, max_depth)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _missing_or_type(body, "model", "a non-empty string (a route name)")
    if not model.isprintable():
        raise bad_request("model: a route name cannot contain control characters", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        if "messages" not in body:
            raise bad_request("Missing required parameter: 'messages'.", "messages",
                              "missing_required_parameter")
        raise bad_request("messages: expected a non-empty array of messages", "messages")
    for i, m in enumerate(messages):
        _check_message(i, m)
    g = body.get
    req = ChatRequest(messages=messages, model=model)
    n = g("n")
    if n is not None:
        if not is_int(n):
            raise bad_request("n: expected an integer", "n")
        if n != 1:
            raise bad_request("n: only 1 choice per request is supported", "n")
    max_tokens = g("max_completion_tokens")
    name = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, name = g("max_tokens"), "max_tokens"
    if max_tokens is not None:
        if not is_int(max_tokens) or max_tokens < 1:
            raise bad_request(f"{name}: expected an integer >= 1", name)
        req.max_tokens = max_tokens
    req.temperature = number(g("temperature"), "temperature", 0.0, 2.0)
    req.top_p = number(g("top_p"), "top_p", 0.0, 1.0)
    stop = g("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise bad_request("stop: expected a string or an array of strings", "stop")
        req.stop = stop or None
    tools = g("tools")
    if tools is not None:
        req.tools = _check_tools(tools) or None
    choice = g("tool_choice")
    if choice is not None:
        req.tool_choice = _check_tool_choice(choice)
    fmt = g("response_format")
    if fmt is not None:
        req.response_format = _check_format(fmt)
    stream = g("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("stream: expected a boolean", "stream")
    req.stream = bool(stream)
    include_usage = False
    opts = g("stream_options")
    if opts is not None:
        if not req.stream:
            raise bad_request("The 'stream_options' parameter is only allowed when 'stream' is "
                              "enabled.", "stream_options")
        if not isinstance(opts, dict):
            raise bad_request("stream_options: expected an object", "stream_options")
        include_usage = opts.get("include_usage")
        if include_usage is not None and not isinstance(include_usage, bool):
            raise bad_request("stream_options.include_usage: expected a boolean",
                              "stream_options")
        include_usage = include_usage is True
    req.params = _params(body)
    user = g("user")
    if user is not None:
        if not isinstance(user, str):
            raise bad_request("user: expected a string", "user")
        req.user = user
    return ChatCall(req, include_usage)


_EFFORTS = ("none", "minimal", "low", "medium", "high")
# OpenAI's optional parameters, refused as OpenAI refuses them: a wrong type or range
_OPTIONAL: dict[str, tuple[str, Any]] = {
    "presence_penalty": ("a number from -2 to 2", lambda v: _in(v, -2.0, 2.0)),
    "frequency_penalty": ("a number from -2 to 2", lambda v: _in(v, -2.0, 2.0)),
    "seed": ("an integer", lambda v: is_int(v)),
    "logprobs": ("a boolean", lambda v: isinstance(v, bool)),
    "top_logprobs": ("an integer from 0 to 20", lambda v: is_int(v) and 0 <= v <= 20),
    "logit_bias": ("an object of token ids to numbers from -100 to 100", lambda v: isinstance(
        v, dict) and all(_in(x, -100.0, 100.0) for x in v.values())),
    "parallel_tool_calls": ("a boolean", lambda v: isinstance(v, bool)),
    "store": ("a boolean", lambda v: isinstance(v, bool)),
    "metadata": ("an object of strings", lambda v: isinstance(v, dict) and all(
        isinstance(x, str) for x in v.values())),
    "reasoning_effort": (f"one of {', '.join(_EFFORTS)}", lambda v: v in _EFFORTS),
    "service_tier": ("a string", lambda v: isinstance(v, str)),
    "prediction": ("an object", lambda v: isinstance(v, dict)),
    "prompt_cache_key": ("a string", lambda v: isinstance(v, str)),
    "safety_identifier": ("a string", lambda v: isinstance(v, str)),
    "verbosity": ("one of low, medium, high", lambda v: v in ("low", "medium", "high")),
    "modalities": ('an array of "text" and "audio"', lambda v: isinstance(v, list) and all(
        m in ("text", "audio") for m in v)),
}


def _in(v: Any, lo: float, hi: float) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and lo <= v <= hi


def _params(body: dict[str, Any]) -> dict[str, Any]:
    """The optional parameters the body sets (not null), checked."""
    out: dict[str, Any] = {}
    for name in _OPTIONAL.keys() & body.keys():
        v = body[name]
        if v is None:
            continue
        expected, ok = _OPTIONAL[name]
        if not ok(v):
            raise bad_request(f"{name}: expected {expected}", name)
        out[name] = v
    if "audio" in out.get("modalities", ()):
        raise bad_request("modalities: audio output is not supported by this gateway; ask for "
                          '["text"]', "modalities")
    if "top_logprobs" in out and not out.get("logprobs"):
        raise bad_request("top_logprobs: requires logprobs to be true", "top_logprobs")
    return out


def load_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """A request body that must be one JSON object, nested at most `max_depth` deep, or
    an ApiError(400) saying what is wrong with it (every JSON face reads its body so)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise _not_json(raw, e) from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    # brackets bound the depth: only a body with many of them is walked
    if raw.count(b"{") + raw.count(b"[") > max_depth and too_deep(body, max_depth):
        raise bad_request(f"the request body nests JSON deeper than {max_depth} levels, the "
                          "gateway's limit (gateway.max_json_depth)", code="json_too_deep")
    return body


def too_deep(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (the outermost is level 1)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        for child in (v.values() if isinstance(v, dict) else v):
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _not_json(raw: bytes, e: orjson.JSONDecodeError) -> ApiError:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as u:
        return bad_request(f"the request body is not valid UTF-8 (byte {u.start})")
    if not raw.strip():
        return bad_request("the request body is empty; expected a JSON object")
    return bad_request(f"the request body is not valid JSON: {e.msg} (position {e.pos})")


def _missing_or_type(body: dict, name: str, expected: str) -> ApiError:
    if body.get(name) is None:
        return bad_request(f"Missing required parameter: '{name}'.", name,
                           "missing_required_parameter")
    return bad_request(f"{name}: expected {expected}", name)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def number(v: Any, name: str, lo: float, hi: float) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise bad_request(f"{name}: expected a number from {lo:g} to {hi:g}", name)
    return float(v)


def _check_message(i: int, m: Any) -> None:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise bad_request(f"{where}: expected an object with a role and content", "messages")
    role = m.get("role")
    if not isinstance(role, str) or role not in _ROLE_SET:
        raise bad_request(f"{where}.role: expected one of {', '.join(ROLES)}", "messages")
    name = m.get("name")
    if name is not None:
        if not isinstance(name, str):
            raise bad_request(f"{where}.name: expected a string", "messages")
        if not name.isprintable():
            raise bad_request(f"{where}.name: a name cannot contain control characters",
                              "messages")
    content = m.get("content")
    if content is not None and not isinstance(content, str):
        if not isinstance(content, list):
            raise bad_request(f"{where}.content: expected a string or an array of parts",
                              "messages")
        _check_parts(where, role, content)
    if role == "assistant":
        calls = m.get("tool_calls")
        if calls is not None:
            _check_tool_calls(where, calls)
        if content is None and not calls:
            raise bad_request(f"{where}.content: an assistant message needs content or "
                              "tool_calls", "messages")
    elif content is None:
        raise bad_request(f"{where}.content: expected a string or an array of parts",
                          "messages")
    if role == "tool" and not isinstance(m.get("tool_call_id"), str):
        raise bad_request(f"{where}.tool_call_id: a tool message needs the id of the call it "
                          "answers", "messages")


def _check_parts(where: str, role: str, parts: list[Any]) -> None:
    if not parts:
        raise bad_request(f"{where}.content: an empty array; expected at least one part",
                          "messages")
    allowed = _PARTS[role]
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str):
            raise bad_request(f"{where}.content[{j}]: expected an object with a type",
                              "messages")
        if kind not in allowed:
            raise bad_request(f"{where}.content[{j}].type: {_shown(kind)} is not a part a "
                              f"{role} message can carry; expected "
                              f"{' or '.join(sorted(allowed))}", "messages")
        field, ftype = _PART_FIELD[kind]
        if not isinstance(part.get(field), ftype):
            expected = "a string" if ftype is str else "an object"
            raise bad_request(f"{where}.content[{j}].{field}: expected {expected}", "messages")
        if kind == "image_url" and not isinstance(part["image_url"].get("url"), str):
            raise bad_request(f"{where}.content[{j}].image_url.url: expected a string",
                              "messages")


def _check_tool_calls(where: str, calls: Any) -> None:
    if not isinstance(calls, list):
        raise bad_request(f"{where}.tool_calls: expected an array", "messages")
    for j, c in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(c, dict):
            raise bad_request(f"{at}: expected an object with an id and a function", "messages")
        if not isinstance(c.get("id"), str):
            raise bad_request(f"{at}.id: expected a string", "messages")
        if c.get("type") != "function":
            raise bad_request(f"{at}.type: expected 'function'", "messages")
        fn = c.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad_request(f"{at}.function.name: expected a string", "messages")
        if not isinstance(fn.get("arguments"), str):
            raise bad_request(f"{at}.function.arguments: expected a string (JSON text, as the "
                              "model produced it)", "messages")


def _shown(value: str) -> str:
    """A caller's string inside an error message: quoted, cut short, escapes visible."""
    return repr(value[:40] + ("..." if len(value) > 40 else ""))


def _check_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise bad_request("tools: expected an array of function tools", "tools")
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or t.get("type") != "function":
            raise bad_request(f"tools[{i}].type: expected 'function'", "tools")
        fn = t.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise bad_request(f"tools[{i}].function.name: expected a non-empty string", "tools")
        if not _TOOL_NAME.fullmatch(fn["name"]):
            raise bad_request(f"tools[{i}].function.name: {_shown(fn['name'])} does not match "
                              "^[a-zA-Z0-9_-]{1,64}$", "tools")
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise bad_request(f"tools[{i}].function.parameters: expected a JSON Schema object",
                              "tools")
    return tools


def _check_tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise bad_request("tool_choice: expected none, auto, required or a function",
                              "tool_choice")
        return choice
    fn = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise bad_request("tool_choice: expected none, auto, required or "
                          '{"type": "function", "function": {"name": ...}}', "tool_choice")
    return choice


def _check_format(fmt: Any) -> dict[str, Any]:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if not isinstance(kind, str) or kind not in _FORMATS:
        raise bad_request("response_format.type: expected one of text, json_object, "
                          "json_schema", "response_format")
    schema = fmt.get("json_schema")
    if kind == "json_schema" and not (isinstance(schema, dict)
                                      and isinstance(schema.get("name"), str)):
        raise bad_request("response_format.json_schema: expected an object with a name and "
                          "schema", "response_format")
    return fmt


# --------------------------------------------------------------------------- answers


def usage_json(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_prompt_tokens},
    }


def completion_body(resp: ChatResponse, rid: str, created: int, model: str) -> bytes:
    """A `chat.completion`; `model` is the route the caller named (the deployment that
    served it is in the x-axtui-deployment header)."""
    message: dict[str, Any] = {"role": "assistant", "content": resp.content,
                               "refusal": resp.refusal}
    if resp.tool_calls:
        message["tool_calls"] = resp.tool_calls
    return orjson.dumps({
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": resp.logprobs,
                     "finish_reason": resp.finish_reason or "stop"}],
        "usage": usage_json(resp.usage),
    })


DONE = b"data: [DONE]\n\n"


class ChunkFrames:
    """SSE frames of one stream. The fixed head of every chunk is encoded once."""

    __slots__ = ("_head", "_tail", "_role_sent")

    def __init__(self, rid: str, created: int, model: str, include_usage: bool) -> None:
        head = orjson.dumps({"id": rid, "object": "chat.completion.chunk", "created": created,
                             "model": model})
        self._head = b"data: " + head[:-1] + b',"choices":['
        # OpenAI sends `"usage": null` on every chunk but the last when usage was asked for
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._role_sent = False

    def chunk(self, c: ChatChunk) -> bytes:
        delta: dict[str, Any] = {}
        if not self._role_sent:
            delta["role"] = "assistant"
            self._role_sent = True
        if c.content is not None:
            delta["content"] = c.content
        if c.refusal is not None:
            delta["refusal"] = c.refusal
        if c.tool_calls:
            delta["tool_calls"] = c.tool_calls
        choice = {"index": 0, "delta": delta, "logprobs": c.logprobs,
                  "finish_reason": c.finish_reason}
        return self._head + orjson.dumps(choice) + b"]" + self._tail

    def usage(self, u: Usage) -> bytes:
        return self._head + b'],"usage":' + orjson.dumps(usage_json(u)) + b"}\n\n"

    @staticmethod
    def error(err: ApiError) -> bytes:
        """An error after the stream began: one event the OpenAI SDKs raise as APIError."""
        return b"data: " + err.body() + b"\n\n"
