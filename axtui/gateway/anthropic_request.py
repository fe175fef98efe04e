"""Anthropic's Messages API request (POST /v1/messages) → the engine's ChatRequest, which is
OpenAI's chat shape (see providers/base.py). Validated by hand like wire.py; each 400 names
the field as Anthropic does (`messages.2.content.0.type: ...`).

What maps to what (README, "Anthropic-compatible face", has the table):
- `system` (a string or text blocks) → a first system message;
- user `text`/`image` blocks → content parts (`image` base64 → a data: URL, url → the URL);
- user `tool_result` blocks → `tool` messages, placed before the rest of that turn;
- assistant `text`/`tool_use` blocks → content and `tool_calls` (input as JSON text);
- `tools` → function tools, `tool_choice` auto/any/tool/none → auto/required/function/none,
  its `disable_parallel_tool_use: true` → `parallel_tool_calls: false`;
- `stop_sequences`, `max_tokens`, `temperature`, `top_p`, `metadata.user_id` → stop,
  max_tokens, temperature, top_p, user;
- `output_config.format` (json_schema) → `response_format` json_schema (the route then
  needs a JSON-capable deployment).
Accepted but not forwarded (the engine's request has no place for them), and named in the
answer's `x-axtui-ignored` header: `top_k`, `thinking`, `cache_control` (top-level or on a
block), thinking blocks, `output_config.effort`, `service_tier`, `speed`, `inference_geo`,
`diagnostics`, `user_profile_id`, `workspace_id`. Refused with a 400 naming them: blocks and
tools that need Anthropic's own servers (documents, server tools, MCP servers, containers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from axtui.gateway.errors import ApiError, bad_request
from axtui.gateway.wire import is_int, load_object, number
from axtui.providers.base import ChatRequest

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# parameters that need Anthropic's servers: no other upstream can honour them
_REFUSED = ("mcp_servers", "container")
# accepted, not forwarded: they tune how an answer is made, not what the answer means
_IGNORED = ("top_k", "thinking", "service_tier", "cache_control", "speed", "inference_geo",
            "diagnostics", "user_profile_id", "workspace_id", "context_management")


@dataclass(slots=True)
class MessagesCall:
    request: ChatRequest
    ignored: list[str] = field(default_factory=list)  # what was accepted and not forwarded


def parse_messages(raw: bytes, max_depth: int = 128) -> MessagesCall:
    """The body of POST /v1/messages as an engine request, or ApiError(400) naming the
    field at fault."""
    body = load_object(raw, max_depth)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _required(body, "model", "a non-empty string (a route name)")
    if not model.isprintable():
        raise bad_request("model: a route name cannot contain control characters", "model")
    max_tokens = body.get("max_tokens")
    if not is_int(max_tokens) or max_tokens < 1:
        raise _required(body, "max_tokens", "an integer >= 1")
    call = MessagesCall(ChatRequest(messages=[], model=model, max_tokens=max_tokens))
    req = call.request
    system = body.get("system")
    if system is not None:
        req.messages.append({"role": "system", "content": _system(system, call)})
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise _required(body, "messages", "a non-empty array of messages")
    for i, m in enumerate(turns):
        req.messages.extend(_turn(i, m, call))
    g = body.get
    req.temperature = number(g("temperature"), "temperature", 0.0, 1.0)
    req.top_p = number(g("top_p"), "top_p", 0.0, 1.0)
    stops = g("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise bad_request("stop_sequences: expected an array of non-empty strings",
                              "stop_sequences")
        req.stop = stops or None
    tools = g("tools")
    if tools is not None:
        req.tools = _tools(tools) or None
    choice = g("tool_choice")
    if choice is not None:
        req.tool_choice = _tool_choice(choice, call)
    output = g("output_config")
    if output is not None:
        req.response_format = _output_format(output, call)
    stream = g("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("stream: expected a boolean", "stream")
    req.stream = bool(stream)
    meta = g("metadata")
    if meta is not None:
        user = meta.get("user_id") if isinstance(meta, dict) else 0
        if user is not None and not isinstance(user, str):
            raise bad_request("metadata.user_id: expected a string", "metadata")
        req.user = user or None
    for name in _REFUSED:
        if g(name) is not None:
            raise bad_request(f"{name}: not supported by this gateway (it needs Anthropic's own "
                              "servers; routes may be served by any provider)", name)
    for name in _IGNORED:
        if g(name) is not None and name not in call.ignored:
            call.ignored.append(name)
    return call


def parse_count(raw: bytes, max_depth: int = 128) -> ChatRequest:
    """The body of POST /v1/messages/count_tokens: a messages request without max_tokens."""
    body = load_object(raw, max_depth)
    body.setdefault("max_tokens", 1)
    return parse_messages(orjson.dumps(body), max_depth).request


def _required(body: dict[str, Any], name: str, expected: str) -> ApiError:
    if body.get(name) is None:
        return bad_request(f"{name}: Field required", name)
    return bad_request(f"{name}: expected {expected}", name)


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


# --------------------------------------------------------------------------- content


def _system(system: Any, call: MessagesCall) -> str | list[dict[str, Any]]:
    if isinstance(system, str):
        return system
    if not isinstance(system, list) or not system:
        raise bad_request("system: expected a string or a non-empty array of text blocks",
                          "system")
    parts = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad_request(f"system.{j}.type: expected 'text'", "system")
        parts.append({"type": "text", "text": _text(block, f"system.{j}", call)})
    return parts[0]["text"] if len(parts) == 1 else parts


def _text(block: dict[str, Any], where: str, call: MessagesCall) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise bad_request(f"{where}.text: expected a string", "messages")
    if "cache_control" in block and "cache_control" not in call.ignored:
        call.ignored.append("cache_control")
    return text


def _turn(i: int, m: Any, call: MessagesCall) -> list[dict[str, Any]]:
    """One Anthropic message → one or more OpenAI messages."""
    where = f"messages.{i}"
    if not isinstance(m, dict):
        raise bad_request(f"{where}: expected an object with a role and content", "messages")
    role = m.get("role")
    if role == "system":
        raise bad_request(f'{where}.role: Unexpected role "system". The Messages API accepts '
                          "a top-level `system` parameter, not \"system\" as an input message "
                          "role.", "messages")
    if role not in ("user", "assistant"):
        raise bad_request(f"{where}.role: expected 'user' or 'assistant'", "messages")
    content = m.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list) or not content:
        raise bad_request(f"{where}.content: expected a string or a non-empty array of "
                          "content blocks", "messages")
    blocks = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str):
            raise bad_request(f"{where}.content.{j}: expected an object with a type", "messages")
        blocks.append((f"{where}.content.{j}", kind, block))
    if role == "user":
        return _user(blocks, call)
    return _assistant(blocks, call)


def _user(blocks: list[tuple[str, str, dict]], call: MessagesCall) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for where, kind, block in blocks:
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, where, call)})
        elif kind == "image":
            parts.append(_image(block, where))
        elif kind == "tool_result":
            results.append(_tool_result(block, where, call))
        else:
            raise _unsupported_block(where, kind, "text, image or tool_result")
    # OpenAI wants a tool call's result right after the assistant turn that made it
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _assistant(blocks: list[tuple[str, str, dict]], call: MessagesCall) -> list[dict[str, Any]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for where, kind, block in blocks:
        if kind == "text":
            texts.append(_text(block, where, call))
        elif kind == "tool_use":
            calls.append(_tool_use(block, where))
        elif kind in ("thinking", "redacted_thinking"):
            if "thinking blocks" not in call.ignored:
                call.ignored.append("thinking blocks")
        else:
            raise _unsupported_block(where, kind, "text, tool_use or thinking")
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        msg["tool_calls"] = calls
    elif not texts:  # only thinking: nothing the engine can pass on
        return []
    return [msg]


def _unsupported_block(where: str, kind: str, expected: str) -> ApiError:
    return bad_request(f"{where}.type: {_shown(kind)} is not supported by this gateway; "
                       f"expected {expected}", "messages")


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        media, data = source.get("media_type"), source.get("data")
        if media not in _IMAGE_TYPES:
            raise bad_request(f"{where}.source.media_type: expected one of "
                              f"{', '.join(sorted(_IMAGE_TYPES))}", "messages")
        if not isinstance(data, str) or not data:
            raise bad_request(f"{where}.source.data: expected base64 text", "messages")
        url = f"data:{media};base64,{data}"
    elif kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad_request(f"{where}.source.url: expected an http(s) URL", "messages")
    else:
        raise bad_request(f"{where}.source.type: expected 'base64' or 'url'", "messages")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: dict[str, Any], where: str, call: MessagesCall) -> dict[str, Any]:
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or not tool_id:
        raise bad_request(f"{where}.tool_use_id: expected the id of the tool_use it answers",
                          "messages")
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            kind = inner.get("type") if isinstance(inner, dict) else None
            if kind != "text":
                raise bad_request(f"{where}.content.{k}.type: {_shown(kind)} is not supported "
                                  "in a tool_result by this gateway; expected text "
                                  "(providers take only text as a tool's result)", "messages")
            texts.append(_text(inner, f"{where}.content.{k}", call))
        text = "\n".join(texts)
    else:
        raise bad_request(f"{where}.content: expected a string or an array of text blocks",
                          "messages")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise bad_request(f"{where}.is_error: expected a boolean", "messages")
    if is_error:  # OpenAI's tool messages have no error flag: the text says it
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": tool_id, "content": text}


def _tool_use(block: dict[str, Any], where: str) -> dict[str, Any]:
    tool_id, name, args = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(tool_id, str) or not tool_id:
        raise bad_request(f"{where}.id: expected a string", "messages")
    if not isinstance(name, str) or not name:
        raise bad_request(f"{where}.name: expected a string", "messages")
    if not isinstance(args, dict):
        raise bad_request(f"{where}.input: expected an object", "messages")
    return {"id": tool_id, "type": "function",
            "function": {"name": name, "arguments": orjson.dumps(args).decode()}}


# --------------------------------------------------------------------------- tools


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise bad_request("tools: expected an array of tools", "tools")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict):
            raise bad_request(f"tools.{i}: expected an object", "tools")
        kind = t.get("type")
        if kind not in (None, "custom"):
            raise bad_request(f"tools.{i}.type: {_shown(kind)} is a server tool, which needs "
                              "Anthropic's own servers; this gateway takes client tools (a "
                              "name, description and input_schema)", "tools")
        name = t.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise bad_request(f"tools.{i}.name: expected a name matching "
                              "^[a-zA-Z0-9_-]{1,64}$", "tools")
        schema = t.get("input_schema")
        if not isinstance(schema, dict):
            raise bad_request(f"tools.{i}.input_schema: expected a JSON Schema object", "tools")
        fn: dict[str, Any] = {"name": name, "parameters": schema}
        desc = t.get("description")
        if desc is not None:
            if not isinstance(desc, str):
                raise bad_request(f"tools.{i}.description: expected a string", "tools")
            fn["description"] = desc
        out.append({"type": "function", "function": fn})
    return out


def _output_format(output: Any, call: MessagesCall) -> dict[str, Any] | None:
    if not isinstance(output, dict):
        raise bad_request("output_config: expected an object", "output_config")
    if output.get("effort") is not None:
        call.ignored.append("output_config.effort")
    fmt = output.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise bad_request("output_config.format.type: expected 'json_schema'", "output_config")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise bad_request("output_config.format.schema: expected a JSON Schema object",
                          "output_config")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema,
                                                   "strict": True}}


def _tool_choice(choice: Any, call: MessagesCall) -> Any:
    if not isinstance(choice, dict):
        raise bad_request("tool_choice: expected an object with a type", "tool_choice")
    kind = choice.get("type")
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None:
        if not isinstance(parallel, bool):
            raise bad_request("tool_choice.disable_parallel_tool_use: expected a boolean",
                              "tool_choice")
        if parallel:  # OpenAI's parallel_tool_calls: false (a candidate must honour it)
            call.request.params["parallel_tool_calls"] = False
    if kind in ("auto", "none"):
        return kind
    if kind == "any":
        return "required"
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("tool_choice.name: expected the name of a tool", "tool_choice")
        return {"type": "function", "function": {"name": name}}
    raise bad_request("tool_choice.type: expected one of auto, any, tool, none", "tool_choice")
