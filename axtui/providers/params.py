"""OpenAI's optional chat parameters and what each protocol does with them.

A request's `params` hold them by their OpenAI names. Two kinds:
- hints (seed, penalties, service_tier, reasoning_effort, ...): passed on where the
  protocol has a field for them, dropped where it has none; the answer means the same.
- meaning-changing ones: the caller would get a different answer if they were dropped
  (`logprobs` asked for and missing, `logit_bias` banning a token, one tool call at most,
  a schema the output must follow). Each names a capability; a deployment without it is
  not a candidate for the request, and a route with none answers 400 naming it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from axtui.providers.base import ChatRequest

# every optional parameter the gateway takes beyond ChatRequest's own fields
PARAMS = (
    "seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
    "logit_bias", "parallel_tool_calls", "reasoning_effort", "service_tier", "metadata",
    "store", "prediction", "prompt_cache_key", "safety_identifier", "verbosity",
    "modalities",
)  # fmt: skip

# capabilities that only parameters call for (the catalog's flags besides the model's own)
PARAM_CAPS = frozenset({"json_schema", "logprobs", "logit_bias", "parallel_tool_calls"})

# which of PARAM_CAPS each protocol's wire can carry at all (openai and sim: every one)
PROTOCOL_CAPS: dict[str, frozenset[str]] = {
    "anthropic": frozenset({"json_schema", "parallel_tool_calls"}),  # disable_parallel_tool_use
    "gemini": frozenset({"json_schema"}),
    "cohere": frozenset({"json_schema"}),
}

# OpenAI's reasoning models (o-series, gpt-5 but its chat variant) take only the default
# sampling: temperature/top_p/penalties other than the default are refused upstream.
REASONING_DROPS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")

# reasoning_effort → a Gemini 2.5 thinking budget (Google's own OpenAI-compatible mapping)
GEMINI_THINKING_BUDGET = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}


def protocol_caps(protocol: str, caps: frozenset[str]) -> frozenset[str]:
    """`caps` less the parameter capabilities `protocol` cannot carry."""
    carried = PROTOCOL_CAPS.get(protocol)
    if carried is None:
        return caps
    return frozenset(c for c in caps if c not in PARAM_CAPS or c in carried)


def needed_capabilities(request: ChatRequest) -> set[str]:
    """The capabilities this request's meaning-changing parameters call for."""
    caps: set[str] = set()
    fmt = request.response_format
    if fmt:
        kind = fmt.get("type")
        if kind == "json_object":
            caps.add("json")
        elif kind == "json_schema":
            caps.add("json_schema")
    p = request.params
    if not p:
        return caps
    if p.get("logprobs") or p.get("top_logprobs"):
        caps.add("logprobs")
    if p.get("logit_bias"):
        caps.add("logit_bias")
    if p.get("parallel_tool_calls") is False and request.tools:
        caps.add("parallel_tool_calls")
    return caps


def param(request: ChatRequest, name: str) -> Any:
    return request.params.get(name) if request.params else None
