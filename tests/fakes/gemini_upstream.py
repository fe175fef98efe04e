"""A fake Gemini API (generativelanguage.googleapis.com, v1beta) on loopback.

    async with GeminiUpstream(api_key="k") as up:
        provider = GeminiProvider("gemini", base_url=up.base_url, ...)
        up.answer("Paris.")                              # or tool_calls=[ToolCall(...)]
        up.rate_limited(retry_delay="34s", per_day=True)  # google.rpc.Status with details
        up.prompt_blocked("SAFETY")                      # 200 with promptFeedback.blockReason
        up.cut("a long answer", after_events=2)          # connection closed mid-stream
        up.requests[-1].body["contents"], up.urls[-1]    # what the adapter sent, and where

Paths name the model (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`);
`?alt=sse` gets server-sent events framed with CRLF, as Google sends them, and without it
the stream is one JSON array. It refuses what the real API refuses: a missing or wrong key
(`x-goog-api-key` or `?key=`), unknown request fields, roles other than user/model, empty
parts, a non-object `functionResponse.response`, and models it was told it lacks.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

import orjson
from aiohttp import web

from axtui.sim.wire.gemini import RPC, status_body

from .loopback import (
    Answer,
    LoopbackUpstream,
    ReceivedRequest,
    Reply,
    ToolCall,
    approx_tokens,
    pieces,
)

__all__ = ["GeminiUpstream", "ToolCall", "status_body"]

DEFAULT_REPLY = "Hello from the fake Gemini upstream."
# both API versions: v1beta (the default) and the stable v1
_PATH = re.compile(r"/v1(?:beta)?/models/([\w.\-]+):(generateContent|streamGenerateContent)")
_RPC = RPC
_JSON = "application/json; charset=UTF-8"
_REQUEST_FIELDS = {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
                   "generationConfig", "cachedContent"}  # fmt: skip
_CONFIG_FIELDS = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
    "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK",
    "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
    "thinkingConfig", "speechConfig", "mediaResolution",
}  # fmt: skip
_PART_FIELDS = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "thought",
                "thoughtSignature", "executableCode", "codeExecutionResult", "videoMetadata"}  # fmt: skip
_query: ContextVar[dict[str, str] | None] = ContextVar("gemini_query", default=None)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _known(fields: set[str]) -> set[str]:
    return fields | {_snake(f) for f in fields}  # protobuf JSON takes either spelling


class _ModelPaths(frozenset):
    """Every model's generate paths, whatever the model is called."""

    def __contains__(self, route: object) -> bool:
        return isinstance(route, tuple) and route[0] == "POST" and bool(_PATH.fullmatch(route[1]))


class GeminiUpstream(LoopbackUpstream):
    routes = _ModelPaths()

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        reply_text: str = DEFAULT_REPLY,
        api_key: str | None = None,
        models: set[str] | None = None,
        sign_calls: bool = False,
        thoughts_tokens: int = 0,
        record: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(latency_s=latency_s, record=record, headers=headers)
        self.reply_text = reply_text
        self.api_key = api_key  # when set, requests must carry it
        self.models = models  # when set, other models are NOT_FOUND
        self.sign_calls = sign_calls  # Gemini 3: the first function call carries a signature
        self.thoughts_tokens = thoughts_tokens
        self.urls: list[str] = []  # path and query of every request, in order

    @property
    def base_url(self) -> str:
        return self.url

    async def __aenter__(self) -> GeminiUpstream:
        await self.start()
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # The shared base records no query string; Gemini's `alt` and `key` live there.
        if self.record:
            self.urls.append(request.path_qs)
        _query.set(dict(request.query))
        return await super()._handle(request)

    # ---------------------------------------------------------------- scripting

    def error(
        self,
        code: int,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """An error status with Google's error body (`status` named from the code)."""
        body = status_body(code, message, details)
        self.push(Reply(code, dict(headers or {}), body, _JSON, delay_s=delay_s))

    def rate_limited(
        self, *, retry_delay: str = "34s", per_day: bool = False, model: str = "gemini-2.5-flash"
    ) -> None:
        """429 RESOURCE_EXHAUSTED as the free tier sends it: QuotaFailure, Help, RetryInfo."""
        period = "PerDay" if per_day else "PerMinute"
        limit = "50" if per_day else "10"
        self.error(429, (
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: https://ai.google.dev/gemini-api/docs/"
            "rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
            f"generate_content_free_tier_requests, limit: {limit}\nPlease retry in "
            f"{retry_delay.rstrip('s')}.977836979s."
        ), details=[
            {"@type": _RPC + "QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": f"GenerateRequests{period}PerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global", "model": model},
                "quotaValue": limit,
            }]},
            {"@type": _RPC + "Help", "links": [{
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": _RPC + "RetryInfo", "retryDelay": retry_delay},
        ])  # fmt: skip

    def prompt_blocked(self, reason: str = "SAFETY") -> None:
        """200 without candidates: the prompt itself was blocked."""
        self.push(lambda rec: self._reply(rec, [{
            "promptFeedback": {"blockReason": reason, "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        }]))  # fmt: skip

    def stream_error(self, text: str, code: int, message: str) -> None:
        """A stream that sends some text, then a google.rpc.Status event, then ends."""

        def script(rec: ReceivedRequest) -> Reply:
            events = self._events(Answer(text), rec)
            del events[-1]["candidates"][0]["finishReason"]  # it errs instead of finishing
            events.append(orjson.loads(status_body(code, message)))
            return self._reply(rec, events)

        self.push(script)

    # ---------------------------------------------------------------- vendor behaviour

    def check(self, rec: ReceivedRequest) -> Reply | None:
        query = _query.get() or {}
        if self.api_key is not None:
            key = rec.headers.get("x-goog-api-key") or query.get("key")
            if not key:
                return Reply(403, body=status_body(403, (
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity to "
                    "call this API.")), content_type=_JSON)  # fmt: skip
            if key != self.api_key:
                return Reply(400, body=status_body(
                    400, "API key not valid. Please pass a valid API key.",
                    [{"@type": _RPC + "ErrorInfo", "reason": "API_KEY_INVALID",
                      "domain": "googleapis.com",
                      "metadata": {"service": "generativelanguage.googleapis.com"}}],
                ), content_type=_JSON)  # fmt: skip
        model, method = self._route(rec)
        if self.models is not None and model not in self.models:
            return Reply(404, body=status_body(404, (
                f"models/{model} is not found for API version v1beta, or is not supported for "
                f"{method}. Call ListModels to see the list of available models and their "
                "supported methods.")), content_type=_JSON)  # fmt: skip
        problem = self._invalid(rec.body)
        if problem:
            return Reply(400, body=status_body(400, problem), content_type=_JSON)
        return None

    def _invalid(self, body: Any) -> str | None:
        """What the real API would say about this request body, or None."""
        if not isinstance(body, dict):
            return "Invalid JSON payload received. Expected an object."
        for name, fields, known in (
            ("", body, _known(_REQUEST_FIELDS)),
            ("generation_config.", body.get("generationConfig") or {}, _known(_CONFIG_FIELDS)),
        ):
            for f in fields:
                if f not in known:
                    return f"Invalid JSON payload received. Unknown name \"{f}\" at '{name}': Cannot find field."  # noqa: E501
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified\n"
        for i, c in enumerate(contents):
            if c.get("role") not in ("user", "model"):
                return "Please use a valid role: user, model."
            if not c.get("parts"):
                return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"  # noqa: E501
            for j, part in enumerate(c["parts"]):
                unknown = set(part) - _known(_PART_FIELDS)
                if unknown:
                    return f"Invalid JSON payload received. Unknown name \"{unknown.pop()}\" at 'contents[{i}].parts[{j}]': Cannot find field."  # noqa: E501
                fr = part.get("functionResponse")
                if fr is not None and not isinstance(fr.get("response"), dict):
                    return f"Invalid value at 'contents[{i}].parts[{j}].function_response.response' (type.googleapis.com/google.protobuf.Struct)"  # noqa: E501
        return None

    def not_found(self, rec: ReceivedRequest) -> Reply:
        return Reply(404, body=b"", content_type="text/html; charset=UTF-8")

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        return Answer(self.reply_text)

    def render(self, ans: Answer, rec: ReceivedRequest) -> Reply:
        return self._reply(rec, self._events(ans, rec))

    def _reply(self, rec: ReceivedRequest, events: list[dict[str, Any]]) -> Reply:
        """Events as a stream (SSE, or a JSON array without `alt=sse`), or merged into one
        body for `generateContent`."""
        headers = {"server": "scaffolding on HTTPServer2", "vary": "Origin, X-Origin, Referer",
                   "server-timing": "gfet4t7; dur=412"}  # fmt: skip
        _, method = self._route(rec)
        if method == "streamGenerateContent" and (_query.get() or {}).get("alt") == "sse":
            frames = [b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events]
            return Reply(headers=headers, events=frames)
        if method == "streamGenerateContent":
            return Reply(headers=headers, body=orjson.dumps(events), content_type=_JSON)
        return Reply(headers=headers, body=orjson.dumps(_merge(events)), content_type=_JSON)

    def _events(self, ans: Answer, rec: ReceivedRequest) -> list[dict[str, Any]]:
        model, _ = self._route(rec)
        body = rec.body if isinstance(rec.body, dict) else {}
        rid = f"fake-{self.next_id():08d}"
        text = ans.text or ""
        words = pieces(text)
        chunks = ["".join(words[i : i + 3]) for i in range(0, len(words), 3)] or [""]
        prompt = ans.prompt_tokens if ans.prompt_tokens is not None else _prompt_tokens(body)
        completion = ans.completion_tokens
        if completion is None:
            completion = approx_tokens(text) + sum(
                approx_tokens(orjson.dumps(c.arguments).decode()) + 3 for c in ans.tool_calls
            )

        def event(parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
            cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            usage: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
            if last:
                cand["finishReason"] = ans.finish_reason or "STOP"
                usage["candidatesTokenCount"] = completion
                usage["totalTokenCount"] = prompt + completion + self.thoughts_tokens
                if self.thoughts_tokens:
                    usage["thoughtsTokenCount"] = self.thoughts_tokens
                if ans.cached_tokens:
                    usage["cachedContentTokenCount"] = ans.cached_tokens
            usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
            return {"candidates": [cand], "usageMetadata": usage, "modelVersion": model,
                    "responseId": rid}  # fmt: skip

        events = [event([{"text": c}], False) for c in chunks if c]
        calls: list[dict[str, Any]] = []
        for i, c in enumerate(ans.tool_calls):
            part: dict[str, Any] = {"functionCall": {"name": c.name, "args": c.arguments}}
            if self.sign_calls and i == 0:
                part["thoughtSignature"] = f"CiQB{rid}c2lnbmVkLWJ5LWZha2U="
            calls.append(part)
        if calls:
            events.append(event(calls, False))
        if events:  # the finish rides on the last event, as Gemini sends it
            last = events[-1]["candidates"][0]["content"]["parts"]
            events[-1] = event(last, True)
        else:
            events.append(event([{"text": ""}], True))
        return events

    @staticmethod
    def _route(rec: ReceivedRequest) -> tuple[str, str]:
        m = _PATH.fullmatch(rec.path)
        assert m is not None  # `routes` let only these through
        return m.group(1), m.group(2)


def _prompt_tokens(body: dict[str, Any]) -> int:
    texts = [p.get("text", "") for c in body.get("contents") or [] for p in c.get("parts") or []]
    system = (body.get("systemInstruction") or {}).get("parts") or []
    texts += [p.get("text", "") for p in system]
    return sum(approx_tokens(t) for t in texts if isinstance(t, str)) + 2


def _merge(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A stream's events as the one response `generateContent` returns."""
    merged = dict(events[-1])
    if "candidates" in merged:
        parts = [p for e in events for p in e["candidates"][0]["content"]["parts"]]
        texts = "".join(p.get("text", "") for p in parts if "text" in p)
        calls = [p for p in parts if "functionCall" in p]
        cand = dict(merged["candidates"][0])
        cand["content"] = {"parts": ([{"text": texts}] if texts else []) + calls, "role": "model"}
        merged["candidates"] = [cand]
    return merged
