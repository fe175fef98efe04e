"""Gemini v1beta (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`):
JSON, SSE framed with CRLF under `?alt=sse` (else one JSON array, streamed), no rate-limit
headers, google.rpc.Status error bodies (429 RESOURCE_EXHAUSTED with a RetryInfo delay)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from axtui.sim.wire import Answer, Call, Refusal, ToolCall, Window, Wire, approx_tokens, tool_of

_PATH = re.compile(r"/v1beta/models/([\w.\-]+):(generateContent|streamGenerateContent)")
RPC = "type.googleapis.com/google.rpc."
STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}  # fmt: skip
_MESSAGES = {
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_HEADERS = {"server": "scaffolding on HTTPServer2", "vary": "Origin, X-Origin, Referer"}


def status_body(code: int, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    """A google.rpc.Status error body, as every Google API sends it."""
    err: dict[str, Any] = {"code": code, "message": message,
                           "status": STATUS_BY_CODE.get(code, "UNKNOWN")}  # fmt: skip
    if details:
        err["details"] = details
    return orjson.dumps({"error": err})


class GeminiWire(Wire):
    name = "gemini"
    json_type = "application/json; charset=UTF-8"
    sse_type = "text/event-stream"

    def read(self, method: str, path: str, query: dict[str, str],
             headers: dict[str, str], body: Any) -> Call | Refusal:
        m = _PATH.fullmatch(path)
        if method != "POST" or m is None:
            return Refusal(404, status_body(404, f"Method not found ({method} {path})."))
        if not isinstance(body, dict):
            return Refusal(400, status_body(400, "Invalid JSON payload received. Expected an "
                                                 "object."))
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return Refusal(400, status_body(400, "* GenerateContentRequest.contents: contents "
                                                 "is not specified\n"))
        texts = [p.get("text", "") for c in contents if isinstance(c, dict)
                 for p in c.get("parts") or [] if isinstance(p, dict)]
        config = body.get("generationConfig") or {}
        limit = config.get("maxOutputTokens") if isinstance(config, dict) else None
        stream = m.group(2) == "streamGenerateContent"
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            return Refusal(400, status_body(400, "Invalid value at 'tools': expected a list"))
        return Call(
            model=m.group(1),
            stream=stream,
            prompt_tokens=sum(approx_tokens(t) for t in texts if isinstance(t, str)) + 2,
            max_tokens=limit if isinstance(limit, int) else None,
            sse=query.get("alt") == "sse",
            tool=_tool(tools, body.get("toolConfig"), contents),
        )

    @staticmethod
    def _event(call: Call, answer: Answer, text: str, last: bool) -> dict[str, Any]:
        part: dict[str, Any] = {"text": text}
        if answer.tool is not None:  # Gemini sends a call whole, in one part
            part = {"functionCall": {"name": answer.tool.name,
                                     "args": orjson.loads(answer.tool.arguments)}}
        cand: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": 0}
        usage: dict[str, Any] = {"promptTokenCount": answer.prompt_tokens,
                                 "totalTokenCount": answer.prompt_tokens}
        if last:
            cand["finishReason"] = "MAX_TOKENS" if answer.truncated else "STOP"
            usage["candidatesTokenCount"] = len(answer.tokens)
            usage["totalTokenCount"] = answer.prompt_tokens + len(answer.tokens)
        return {"candidates": [cand], "usageMetadata": usage, "modelVersion": call.model,
                "responseId": answer.rid}

    def body(self, call: Call, answer: Answer) -> bytes:
        return orjson.dumps(self._event(call, answer, answer.text, True))

    def frames(self, call: Call, answer: Answer) -> list[bytes]:
        texts = list(answer.tokens) if answer.tool is None and answer.tokens else [""]
        events = [self._event(call, answer, t, i == len(texts) - 1) for i, t in enumerate(texts)]
        if call.sse:
            return [b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events]
        # without alt=sse: one JSON array, sent element by element; `]` ends it
        out = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(e) for i, e in enumerate(events)]
        out.append(b"]")
        return out

    def ok_headers(self, answer: Answer, window: Window | None, now: float) -> dict[str, str]:
        return dict(_HEADERS)  # Gemini sends no rate-limit headers

    def error(self, status: int, request_id: str) -> tuple[dict[str, str], bytes]:
        message = _MESSAGES.get(status, f"simulated upstream error ({status})")
        return dict(_HEADERS), status_body(status, message)

    def rate_limited(self, *, status: int, retry_after_s: float, remaining: int,
                     reset_s: float | None, limit: int, model: str, now: float,
                     request_id: str) -> tuple[dict[str, str], bytes]:
        delay = f"{retry_after_s:g}s"
        message = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: https://ai.google.dev/gemini-api/"
            "docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
            f"generate_content_requests, limit: {limit}\nPlease retry in {delay}."
        )
        details = [
            {"@type": RPC + "QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                "quotaDimensions": {"location": "global", "model": model},
                "quotaValue": str(limit),
            }]},
            {"@type": RPC + "RetryInfo", "retryDelay": delay},
        ]  # fmt: skip
        return dict(_HEADERS), status_body(status, message, details)


_MODES = {"ANY": "required", "NONE": "none", "AUTO": "auto", "VALIDATED": "auto"}


def _tool(tools: Any, config: Any, contents: list[Any]) -> ToolCall | None:
    """Gemini's function declarations and calling config in OpenAI's shape, chosen as the
    OpenAI wire does (one allowed name under ANY is that function); a turn of function
    responses only is not the user's."""
    decls = [d for t in tools or [] if isinstance(t, dict)
             for d in t.get("functionDeclarations") or t.get("function_declarations") or []
             if isinstance(d, dict)]
    if not decls:
        return None
    fns = [{"function": {"name": d.get("name"),
                         "parameters": d.get("parametersJsonSchema")
                         or _lower_types(d.get("parameters"))}} for d in decls]
    calling = (config or {}).get("functionCallingConfig") or {} if isinstance(
        config, dict) else {}
    choice: Any = _MODES.get(str(calling.get("mode", "AUTO")).upper(), "auto")
    allowed = calling.get("allowedFunctionNames") or []
    if choice == "required" and len(allowed) == 1:
        choice = {"type": "function", "function": {"name": allowed[0]}}
    last = contents[-1] if isinstance(contents[-1], dict) else {}
    parts = [p for p in last.get("parts") or [] if isinstance(p, dict)]
    responses_only = bool(parts) and all("functionResponse" in p for p in parts)
    return tool_of(fns, choice, last.get("role", "user") == "user" and not responses_only)


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI-style `parameters` (types in capitals: OBJECT, STRING) as JSON
    Schema's lower-case types."""
    if isinstance(schema, list):
        return [_lower_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _lower_types(v) for k, v in schema.items()}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    return out
