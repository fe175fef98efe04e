"""The one event type: every request the engine handles becomes one `RequestRecord`.

The store, rollups, alerts, rollout gates, cost analytics, the live tail and JSONL traces
are all views of this stream. A trace file is a list of these, one JSON object a line.
Money is integer nano-dollars (1 USD = 1_000_000_000).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

NANO_PER_USD = 1_000_000_000


class ErrorKind(StrEnum):
    """Why an attempt (or a whole request) failed, across every provider."""

    rate_limited = "rate_limited"
    overloaded = "overloaded"
    server = "server"
    timeout = "timeout"
    connect = "connect"
    auth = "auth"
    bad_request = "bad_request"
    context_length = "context_length"
    content_policy = "content_policy"
    not_found = "not_found"
    malformed = "malformed"
    # Request-level kinds: the engine's own verdicts, never an upstream's.
    cancelled = "cancelled"  # the caller went away
    interrupted = "interrupted"  # a stream failed after its first chunk reached the caller
    quota = "quota"  # a caller quota (rpm/tpm/spend) refused the request
    budget = "budget"  # a spend budget refused the request
    no_route = "no_route"  # unknown route
    no_candidates = "no_candidates"  # every deployment filtered out (drained, open, no room)
    unsupported = "unsupported"  # no deployment of the route supports what the request needs
    deadline = "deadline"  # the request's deadline ran out between attempts


class Outcome(StrEnum):
    ok = "ok"
    failed = "failed"  # attempts were made and all failed
    rejected = "rejected"  # refused before any attempt (quota, budget, no route/candidate)
    cancelled = "cancelled"
    interrupted = "interrupted"


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    # prompt tokens written to the vendor's prompt cache (Anthropic's
    # cache_creation_input_tokens); within prompt_tokens, like cached_prompt_tokens
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Attempt(BaseModel):
    """One call to one deployment."""

    deployment: str
    started_at: float
    latency_ms: float
    ttft_ms: float | None = None
    status: int | None = None  # HTTP status, when there was one
    error_kind: ErrorKind | None = None
    error: str | None = None  # short, redacted: never a secret
    retry_after_s: float | None = None
    usage: Usage | None = None
    cost_nano: int = 0
    backoff_ms: float = 0.0  # wait before the next attempt

    @property
    def ok(self) -> bool:
        return self.error_kind is None


class RequestRecord(BaseModel):
    """One request, from arrival to outcome, with every attempt it took."""

    id: str
    started_at: float
    ended_at: float
    route: str  # the route that finally served (or refused) the request
    requested_route: str  # what the caller asked for (`model`)
    user: str | None = None
    key_id: str | None = None  # hash of the caller key, never the key
    tags: list[str] = Field(default_factory=list)
    face: str | None = None  # the gateway API it came through when not OpenAI's: "anthropic"
    # request shape
    stream: bool = False
    est_prompt_tokens: int = 0
    max_tokens: int | None = None
    required_caps: list[str] = Field(default_factory=list)
    complexity: str | None = None
    content_hash: str | None = None
    messages: list[dict] | None = None  # only when the route opts in to capture
    # what happened
    attempts: list[Attempt] = Field(default_factory=list)
    outcome: Outcome = Outcome.ok
    error_kind: ErrorKind | None = None
    error: str | None = None
    status: int = 200  # what the caller was (or would be) told over HTTP
    deployment: str | None = None  # the deployment that served the answer
    usage: Usage | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cost_nano: int = 0
    optimal_cost_nano: int | None = None  # cheapest capable deployment, same tokens
    reason: str = ""  # why this route and deployment
    flags: dict[str, str] = Field(default_factory=dict)  # flag -> variant, for rollouts
    cache: str | None = None  # exact | semantic: served from the response cache (no attempt)
    cache_similarity: float | None = None  # of the last user turn, for a semantic hit
    kind: str = "chat"  # "chat" | "transcription" (POST /v1/audio/transcriptions)
    audio_s: float | None = None  # a transcription's audio duration, when known
    region: str | None = None  # the serving deployment's region, when configured

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ok


M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__
_ALL_SET: dict[type, set[str]] = {}


def trusted(cls: type[M], fields: dict[str, Any]) -> M:
    """An instance of `cls` from `fields` the caller guarantees: every field, in declaration
    order, each already of its declared type (nested models as instances). For the engine's
    hot path only, where it builds these from its own typed values: pydantic's validation
    (~3 µs for a RequestRecord) would check what cannot be wrong, and `model_construct` is
    slower still. The result is an ordinary instance (tests hold the engine's records to
    equal their validated round trip, field order included: record_json depends on it)."""
    m = cls.__new__(cls)
    _set(m, "__dict__", fields)
    all_set = _ALL_SET.get(cls)
    if all_set is None:
        all_set = _ALL_SET[cls] = set(cls.model_fields)
    _set(m, "__pydantic_fields_set__", all_set)  # add() of a field already in it: no-op
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m
