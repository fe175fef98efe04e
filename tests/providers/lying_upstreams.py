"""Loopback upstreams whose model behaves like a real one (it makes a forced tool call,
answers a JSON object in JSON mode, streams when asked) except for the capabilities it is
told to lack, which it lacks the way real servers do: a 400 with the vendor's own wording
(`refuses`), or by quietly doing something else (`ignores`).
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.gemini_upstream import GeminiUpstream, status_body
from tests.fakes.loopback import Answer, ReceivedRequest, Reply, ToolCall, text_of
from tests.fakes.openai_upstream import OpenAIUpstream, error_body

JSON_ANSWER = '{"ok": true}'
PROSE_ANSWER = "ok"


class OpenAIModel(OpenAIUpstream):
    """An OpenAI-compatible server (vLLM, Ollama, OpenAI itself) with one model."""

    def __init__(
        self, *, refuses: Iterable[str] = (), ignores: Iterable[str] = (), **kw: object
    ) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.refuses = set(refuses)
        self.ignores = set(ignores)

    def check(self, rec: ReceivedRequest) -> Reply | None:
        refused = super().check(rec)
        if refused is not None:
            return refused
        body = rec.body
        model = body.get("model")
        if "streaming" in self.refuses and body.get("stream"):
            # what OpenAI said of `stream` for the first o1 models
            return Reply(400, body=error_body(
                "Unsupported value: 'stream' does not support true with this model. Only the "
                "default (false) value is supported.", param="stream", code="unsupported_value"))  # fmt: skip
        if "tools" in self.refuses and body.get("tools"):
            # Ollama's answer for a model without tool support
            return Reply(400, body=error_body(
                f"registry.ollama.ai/library/{model} does not support tools", type="api_error"))  # fmt: skip
        if "json" in self.refuses and body.get("response_format"):
            return Reply(400, body=error_body(
                "Invalid parameter: 'response_format' of type 'json_object' is not supported "
                "with this model.", param="response_format"))  # fmt: skip
        return None

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        body = rec.body
        forced = body.get("tool_choice")
        if isinstance(forced, dict) and "tools" not in self.ignores:
            return Answer(tool_calls=[ToolCall(forced["function"]["name"], {"ok": True})])
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_object" and "json" not in self.ignores:
            return Answer(JSON_ANSWER)
        return Answer(PROSE_ANSWER)

    def render(self, ans: Answer, rec: ReceivedRequest) -> Reply:
        if "streaming" in self.ignores and rec.body.get("stream"):
            # a server that ignores `stream` and sends the whole completion as JSON
            plain = {k: v for k, v in rec.body.items() if k not in ("stream", "stream_options")}
            rec = ReceivedRequest(rec.method, rec.path, rec.headers, plain, rec.raw)
        return super().render(ans, rec)


class GeminiModel(GeminiUpstream):
    """Gemini with one model; a tool refusal reads as Google's for models without tools."""

    def __init__(self, *, refuses: Iterable[str] = (), **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.refuses = set(refuses)

    def check(self, rec: ReceivedRequest) -> Reply | None:
        refused = super().check(rec)
        if refused is not None:
            return refused
        model, _ = self._route(rec)
        if "tools" in self.refuses and rec.body.get("tools"):
            return Reply(400, body=status_body(
                400, f"Function calling is not enabled for models/{model}"))  # fmt: skip
        return None

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        body = rec.body
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if calling.get("mode") == "ANY":
            return Answer(tool_calls=[ToolCall(calling["allowedFunctionNames"][0], {"ok": True})])
        if (body.get("generationConfig") or {}).get("responseMimeType") == "application/json":
            return Answer(JSON_ANSWER)
        return Answer(PROSE_ANSWER)


class AnthropicModel(AnthropicUpstream):
    """Claude: makes a forced tool call, and follows a prompt that asks for JSON (the
    Messages API has no JSON mode)."""

    def default_answer(self, rec: ReceivedRequest) -> Answer:
        body = rec.body
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool":
            return Answer(tool_calls=[ToolCall(choice["name"], {"ok": True})])
        prompt = " ".join(text_of(m.get("content")) for m in body["messages"])
        return Answer(JSON_ANSWER if "JSON" in prompt else PROSE_ANSWER)
