"""`axtui.toml` as pydantic models: load, validate, and explain errors by file and key.

Secrets never live here: a provider names the environment variable that holds its key
(`api_key_env`); a literal key in the file is refused.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from axtui.alerts.rules import RULE_NAME, AlertingConfig, AlertRule, check_references
from axtui.slo.model import SloConfig

Protocol = Literal["openai", "anthropic", "gemini", "cohere", "sim"]
Strategy = Literal[
    "priority", "round_robin", "weighted", "cost", "latency", "performance", "least_busy",
    "free_first",
]
Capability = Literal["streaming", "tools", "vision", "json", "reasoning", "json_schema",
                     "logprobs", "logit_bias", "parallel_tool_calls", "transcription"]
Category = Literal["small", "large", "reasoning"]

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "cohere": "https://api.cohere.com",
    "sim": "sim://local",
}

_SECRET_KEYS = {"api_key", "apikey", "key", "token", "secret", "password", "authorization"}


class ConfigError(Exception):
    """A config problem, phrased as `file: key.path: what is wrong` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Money = Annotated[Decimal, Field(ge=0)]
Region = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]  # lower-case, e.g. "eu"
RegionPolicy = Literal["prefer", "require"]


class TimeoutConfig(_Strict):
    connect: float = Field(5.0, gt=0)
    read: float = Field(60.0, gt=0)
    total: float = Field(120.0, gt=0)


class FreeTier(_Strict):
    """A vendor's free allowance: requests per minute/day, tokens per minute/day."""

    rpm: int | None = Field(None, ge=1)
    rpd: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    tpd: int | None = Field(None, ge=1)


class SimOutage(_Strict):
    start_s: float = Field(ge=0)  # seconds after the engine starts
    end_s: float = Field(gt=0)
    kind: Literal["server", "overloaded", "timeout", "connect", "rate_limited"] = "server"


class SimProfile(_Strict):
    """How a simulated provider behaves; modelled on a real one."""

    latency_p50_ms: float = Field(400.0, gt=0)
    latency_p95_ms: float = Field(1200.0, gt=0)
    ttft_ms: float = Field(250.0, ge=0)
    tokens_per_s: float = Field(80.0, gt=0)
    output_tokens_mean: int = Field(120, ge=1)
    errors: dict[
        Literal["server", "overloaded", "timeout", "connect", "rate_limited", "malformed"],
        Annotated[float, Field(ge=0, le=1)],
    ] = Field(default_factory=dict)
    outages: list[SimOutage] = Field(default_factory=list)
    # capabilities the simulated upstream really supports (None: all it is asked for)
    supports: list[Capability] | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _p95_above_p50(self) -> SimProfile:
        if self.latency_p95_ms < self.latency_p50_ms:
            raise ValueError("latency_p95_ms must be >= latency_p50_ms")
        return self


class ProviderConfig(_Strict):
    protocol: Protocol
    base_url: str | None = None
    api_key_env: str | None = None
    vendor: str | None = None  # price/capability lookups (e.g. a sim modelled on "groq")
    headers: dict[str, str] = Field(default_factory=dict)
    # the wire's version: anthropic-version (e.g. "2023-06-01"), Gemini's "v1beta" or "v1"
    api_version: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    timeout: TimeoutConfig = TimeoutConfig()
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    free_tier: FreeTier | None = None
    sim: SimProfile | None = None

    @field_validator("headers")
    @classmethod
    def _no_auth_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for h in v:
            if h.lower() in {"authorization", "x-api-key", "x-goog-api-key", "api-key"}:
                raise ValueError(
                    f"header {h!r} carries a secret; put the key in an environment variable "
                    "and name it with api_key_env"
                )
        return v

    def resolved_base_url(self) -> str:
        return self.base_url or DEFAULT_BASE_URLS[self.protocol]


class Price(_Strict):
    """USD per million tokens."""

    input: Money
    output: Money
    cached_input: Money | None = None
    cache_write_input: Money | None = None  # prompt tokens written to the cache; default input


class AudioConfig(_Strict):
    """A transcription deployment's terms (engine/audio.py has defaults for known models):
    the audio it takes and its price, per minute or hour of audio, or per Mtok of audio input
    (text tokens then bill at `price`)."""

    formats: list[str] | None = None  # file extensions it accepts, e.g. ["wav", "mp3"]
    max_mb: Decimal | None = Field(None, gt=0)  # largest file, in MB (1 MB = 1,048,576 bytes)
    per_minute: Money | None = None  # USD per minute of audio
    per_hour: Money | None = None  # USD per hour of audio
    audio_input: Money | None = None  # USD per Mtok of audio input
    min_billed_s: float | None = Field(None, ge=0)  # a shorter file is billed as this long

    @model_validator(mode="after")
    def _one_price(self) -> AudioConfig:
        if sum(p is not None for p in (self.per_minute, self.per_hour, self.audio_input)) > 1:
            raise ValueError("give one of per_minute, per_hour, audio_input")
        return self


class DeploymentConfig(_Strict):
    provider: str
    model: str
    name: str | None = None  # default "provider/model"
    price: Price | None = None
    capabilities: list[Capability] | None = None
    context_window: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)
    category: Category | None = None
    free_tier: bool | None = None
    region: Region | None = None  # where it serves (data residency): "eu", "us-east", ...
    weight: float = Field(1.0, gt=0)
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    sim: SimProfile | None = None  # per-deployment override of the provider's profile
    audio: AudioConfig | None = None  # a transcription deployment's formats, size and price

    @property
    def id(self) -> str:
        return self.name or f"{self.provider}/{self.model}"


class BreakerConfig(_Strict):
    window_s: float = Field(30.0, gt=0)
    min_calls: int = Field(10, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    consecutive_failures: int = Field(5, ge=1)
    open_s: float = Field(15.0, gt=0)
    max_open_s: float = Field(300.0, gt=0)
    half_open_trials: int = Field(2, ge=1)
    # when every candidate of a route is out, trial calls per second through each open one
    panic_trials_per_s: float = Field(1.0, gt=0)


class RoutingConfig(_Strict):
    """How the engine treats its own predictions and the upstreams' rate limits."""

    # longest wait for a 429 cooldown to end when every candidate is cooling (per route too)
    max_queue_wait_ms: float = Field(5000.0, ge=0)
    # how long an upstream's `remaining` counts when it came without a reset time
    learned_limit_s: float = Field(5.0, gt=0)


class RouteCacheConfig(_Strict):
    """`[routes.X.cache]`: this route's answers are kept and served again (axtui/cache)."""

    enabled: bool = True
    ttl_s: float = Field(3600.0, gt=0)
    max_entries: int = Field(10_000, ge=1)
    max_mib: float = Field(64.0, gt=0)  # the answers' bytes, per route
    # a request sampling above this is never served from (nor put in) the cache; a request
    # without `temperature` samples at the vendors' default, 1.0
    max_temperature: float = Field(0.0, ge=0, le=2)
    shared: bool = False  # serve one caller key's answers to another key's requests
    semantic: bool = False  # also serve answers to similar last user turns
    similarity: float = Field(0.95, gt=0, le=1)  # the semantic threshold (cosine)
    embedder: Literal["ngram", "wordllama"] = "ngram"  # wordllama: pip install axtui[semantic]
    # auto: Redis when [redis] has a url (shared by the fleet), else this process's memory
    backend: Literal["auto", "memory", "redis"] = "auto"


class RouteConfig(_Strict):
    candidates: list[str] = Field(min_length=1)
    strategy: Strategy = "priority"
    fallbacks: list[str] = Field(default_factory=list)
    context_fallback: str | None = None  # route with a larger window, for context_length
    max_attempts: int = Field(3, ge=1, le=20)
    deadline_s: float = Field(60.0, gt=0)
    latency_tolerance: float = Field(0.1, ge=0, le=5)  # latency strategy's near-tie band
    simple_to_small: bool = False  # steer "simple" requests to small models
    capture_content: bool = False
    max_queue_wait_ms: float | None = Field(None, ge=0)  # None: [routing] max_queue_wait_ms
    description: str = ""
    cache: RouteCacheConfig | None = None  # None: answers are never cached
    slo: SloConfig | None = None  # objectives, budget and burn alerts (axtui/slo)
    # the region of a request that names none (header or key); "require": never served
    # outside the request's region (a 400 naming it when the route has no deployment there)
    region: Region | None = None
    region_policy: RegionPolicy = "prefer"


class RuleMatch(_Strict):
    route: str | None = None  # the route the caller asked for (None: any)
    user: str | None = None  # exact, or prefix ending in "*"
    tag: str | None = None
    header: dict[str, str] = Field(default_factory=dict)  # lower-case name -> value
    complexity: Literal["simple", "medium", "complex"] | None = None


class RuleConfig(_Strict):
    match: RuleMatch
    route: str


class QuotaLimits(_Strict):
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    spend_day_usd: Money | None = None


class QuotasConfig(_Strict):
    """`[quotas]`: caller quotas per user, key and client IP, per route (`[quotas.per_route.
    NAME]`) and one over everything (`[quotas.global]`); a request must fit all of them."""

    per_user: QuotaLimits = QuotaLimits()
    per_key: QuotaLimits = QuotaLimits()
    per_ip: QuotaLimits = QuotaLimits()
    global_: QuotaLimits = Field(QuotaLimits(), alias="global")
    per_route: dict[str, QuotaLimits] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BudgetConfig(_Strict):
    scope: str = "global"  # global | route:NAME | user:ID | key:ID | user:* | key:*
    period: Literal["day", "month"] = "day"
    limit_usd: Money
    thresholds: list[Annotated[int, Field(gt=0, le=100)]] = Field(
        default_factory=lambda: [50, 80, 100]
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: str) -> str:
        if v == "global" or (v.split(":", 1)[0] in {"route", "user", "key"} and ":" in v):
            return v
        raise ValueError("scope must be 'global', 'route:NAME', 'user:ID|*' or 'key:ID|*'")


def _one_decimal(v: float) -> float:
    if round(v, 1) != v:
        raise ValueError("a rollout percentage has at most one decimal (e.g. 2.5)")
    return v


# A rollout percentage: 0-100 with one decimal (2.5 %), as every guardrail reads it.
Percent = Annotated[float, Field(ge=0, le=100), AfterValidator(_one_decimal)]
FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class FlagVariant(_Strict):
    """One arm of a weighted split: the cohort is divided among variants by weight."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    deployment: str
    weight: float = Field(1.0, gt=0)


class FlagEffect(_Strict):
    """What a flag does to routing for its cohort.

    capability: `deployment` counts as having `capability` (on every route that lists it,
    or only `route`); split: the cohort of `route` goes to `deployment` (or `variants`)
    first, with the route's normal failover behind; force: the cohort of `route` goes only
    to `deployment` (at 100 %, all of it)."""

    kind: Literal["capability", "split", "force"]
    route: str | None = None
    deployment: str | None = None
    capability: Capability | None = None
    variants: list[FlagVariant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> FlagEffect:
        if self.kind == "capability":
            if not self.deployment or not self.capability:
                raise ValueError("a capability flag needs `deployment` and `capability`")
        elif not self.route:
            raise ValueError(f"a {self.kind} flag needs `route`")
        elif self.kind == "split" and bool(self.deployment) == bool(self.variants):
            raise ValueError("a split flag needs `deployment` or `variants` (one of them)")
        elif self.kind == "force" and not self.deployment:
            raise ValueError("a force flag needs `deployment`")
        if self.variants and self.kind != "split":
            raise ValueError("only a split flag has `variants`")
        if self.capability and self.kind != "capability":
            raise ValueError("only a capability flag has `capability`")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or {"on", "off"} & set(names):
            raise ValueError("variant names must be unique and not 'on' or 'off'")
        return self

    def deployments(self) -> list[str]:
        return [v.deployment for v in self.variants] or [self.deployment or ""]


class FlagGates(_Strict):
    """Metric gates before an increase: the cohort against the baseline running alongside."""

    min_samples: int = Field(100, ge=1)  # per side; fewer is inconclusive, never a pass
    max_error_rate: float = Field(0.05, ge=0, le=1)  # the cohort's, absolute
    max_error_rate_increase: float = Field(0.01, ge=0, le=1)  # over the baseline's
    max_p95_ratio: float = Field(1.2, gt=0)  # cohort p95 <= baseline p95 x this
    max_cost_ratio: float = Field(1.0, gt=0)  # cohort cost/request <= baseline's x this
    srm_p: float = Field(0.001, gt=0, lt=1)  # sample-ratio mismatch below this p-value
    min_ratings: int = Field(20, ge=1)  # per side, before the rating gate judges
    max_rating_drop: float = Field(0.1, ge=0)  # cohort mean >= baseline mean - this (scale points)


class FlagGuardrails(_Strict):
    max_step_factor: float = Field(5.0, gt=1)  # an increase may at most multiply by this
    canary_pct: Percent = 1.0  # the largest first step from 0
    dwell_s: float = Field(3600.0, ge=0)  # minimum time since the last change
    rollback_after: int | None = Field(None, ge=1)  # consecutive failed gate evaluations
    rollback_to: Literal["previous", "kill"] = "previous"


class FlagConfig(_Strict):
    """A flag's definition. Its live state (percentage, kill) lives in the store."""

    description: str = ""
    owner: str = ""
    expected_impact: str = ""
    enabled: bool = True
    pct: Percent = 0.0  # the percentage when first seeded into a store
    stickiness: Literal["user", "key"] = "user"  # then the other; else per request
    salt: str | None = None  # bucketing group; default the flag's name
    effect: FlagEffect
    ladder: list[Percent] = Field(default_factory=list)  # planned steps for `advance`
    gates: FlagGates = FlagGates()
    guardrails: FlagGuardrails = FlagGuardrails()

    @model_validator(mode="after")
    def _ladder(self) -> FlagConfig:
        prev = 0.0
        for step in self.ladder:
            if step <= prev:
                raise ValueError(f"ladder: steps must rise, {step:g} after {prev:g}")
            limit = (self.guardrails.canary_pct if prev == 0
                     else prev * self.guardrails.max_step_factor)
            if step > limit + 1e-9:
                raise ValueError(f"ladder: step {prev:g} -> {step:g} exceeds the step limit "
                                 f"({limit:g})")
            prev = step
        return self


class FeedbackConfig(_Strict):
    """POST /v1/feedback: the scale callers rate on (-1..1 any number, 1..5 whole stars)."""

    scale: Literal["-1..1", "1..5"] = "-1..1"

    @property
    def bounds(self) -> tuple[int, int]:
        return (-1, 1) if self.scale == "-1..1" else (1, 5)


class StoreConfig(_Strict):
    url: str = "sqlite:///axtui.db"
    flush_interval_s: float = Field(0.25, gt=0, le=5)
    queue_max: int = Field(100_000, ge=100)
    # where `axtui serve` prepares and writes records: a child process on another core (the
    # GIL stays with serving: added p99 at concurrency 1 measured 3.9 ms against 11.7 ms for
    # a thread), or a thread of the serving process (always, for in-memory SQLite)
    recorder: Literal["thread", "process"] = "process"
    # the process recorder's handoff ring (store/handoff.py): records in flight survive kill -9
    # there; default directory: `<store file>.handoff/` beside SQLite, else one under $TMPDIR
    handoff_dir: str | None = None
    handoff_mib: int = Field(64, ge=1, le=4096)


class RedisConfig(_Strict):
    """`[redis]`: a fleet's shared counters (caller quotas, headroom), breaker trips and 429
    cooldowns, and the response cache (axtui/fleet). No url: in-process, as one process."""

    url: str | None = None  # redis://127.0.0.1:6379/0 (a password: use url_env)
    url_env: str | None = None  # or the url from this environment variable
    prefix: str = Field("axtui", min_length=1)  # key prefix: fleets sharing one Redis differ
    poll_s: float = Field(0.25, gt=0, le=5)  # breakers and cooldowns of other processes
    timeout_s: float = Field(0.1, gt=0, le=5)  # one call; past it the process goes local
    max_backoff_s: float = Field(5.0, gt=0, le=60)  # reconnect attempts back off to this

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v is not None and v.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError("a Redis url starts with redis://, rediss:// or unix://")
        return v

    def resolved_url(self) -> str | None:
        import os

        if self.url_env:
            return os.environ.get(self.url_env) or self.url
        return self.url


class RetentionConfig(_Strict):
    """How long the store keeps raw records and each rollup resolution (store/retention.py)."""

    raw_days: float = Field(7.0, gt=0)
    minute_days: float = Field(30.0, gt=0)
    hour_days: float = Field(90.0, gt=0)
    day_days: float = Field(365.0, gt=0)


class TraceConfig(_Strict):
    path: str | None = None


class KeyConfig(_Strict):
    """A caller (virtual) key for the gateway. The key itself lives in the environment
    variable `key_env`; only its hash is ever kept."""

    name: str = Field(min_length=1)
    key_env: str = Field(min_length=1)
    routes: list[str] | None = None  # None: every route
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    budget_day_usd: Money | None = None
    region: Region | None = None  # this caller's region, when its request names none
    region_policy: RegionPolicy = "prefer"  # "require": only ever served in `region`

    @model_validator(mode="before")
    @classmethod
    def _no_literal_key(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for k in data:
                if str(k).lower() in _SECRET_KEYS:
                    raise ValueError(
                        f"{k!r}: a literal caller key is not allowed in the config; put it in "
                        "an environment variable and name that with `key_env = \"...\"`"
                    )
        return data


class GatewayConfig(_Strict):
    """`axtui serve`: where it listens and how it guards itself."""

    listen: str = "127.0.0.1:4000"
    admin_token_env: str = "AXTUI_ADMIN_TOKEN"  # the admin API is off while this is unset
    auth: Literal["auto", "required"] = "auto"  # auto: keys required once any key exists
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(30.0, gt=0)  # a client that stops sending its body
    header_timeout_s: float = Field(10.0, gt=0)  # a connection whose request headers stall
    max_json_depth: int = Field(128, ge=2, le=200)  # nesting in a request body
    shutdown_grace_s: float = Field(30.0, ge=0)  # in-flight requests get this long on SIGTERM
    control_poll_s: float = Field(0.1, gt=0, le=0.25)  # keys, drains: how fresh
    # peers (CIDRs) whose X-Forwarded-For names the client; anyone else's is ignored
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        import ipaddress

        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP network (e.g. 10.0.0.0/8)") from None
        return v


class MetricsConfig(_Strict):
    """`GET /metrics` for Prometheus (multiprocess mode: processes sharing `dir` add up)."""

    enabled: bool = True
    dir: str | None = None  # None: $PROMETHEUS_MULTIPROC_DIR, else one beside the store
    token_env: str | None = None  # when set, a scrape needs `Authorization: Bearer <it>`
    publish_s: float = Field(1.0, gt=0, le=60)  # engine gauges reach the shared dir this often


class ConsoleConfig(_Strict):
    """`[console]`: the starting theme and key remaps (`[console.keys]`: binding id -> key
    or list of keys; ids and keys are checked when the console starts, see `?`)."""

    theme: str | None = None
    keys: dict[str, str | list[str]] = Field(default_factory=dict)


class Config(_Strict):
    providers: dict[str, ProviderConfig]
    deployments: list[DeploymentConfig] = Field(min_length=1)
    routes: dict[str, RouteConfig] = Field(min_length=1)
    rules: list[RuleConfig] = Field(default_factory=list)
    quotas: QuotasConfig = QuotasConfig()
    budgets: list[BudgetConfig] = Field(default_factory=list)
    breaker: BreakerConfig = BreakerConfig()
    routing: RoutingConfig = RoutingConfig()
    store: StoreConfig = StoreConfig()
    redis: RedisConfig = RedisConfig()
    retention: RetentionConfig = RetentionConfig()
    trace: TraceConfig = TraceConfig()
    gateway: GatewayConfig = GatewayConfig()
    metrics: MetricsConfig = MetricsConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    keys: list[KeyConfig] = Field(default_factory=list)
    # sections later issues fill in; kept as raw tables so configs stay forward-compatible
    flags: dict[str, FlagConfig] = Field(default_factory=dict)
    alerts: list[AlertRule] = Field(default_factory=list)
    alerting: AlertingConfig = AlertingConfig()
    console: ConsoleConfig = ConsoleConfig()

    def slos(self) -> dict[str, SloConfig]:
        """The routes' SLOs, by route."""
        return {name: r.slo for name, r in self.routes.items() if r.slo is not None}

    def is_free_tier(self, d: DeploymentConfig) -> bool:
        """The deployment's own `free_tier`, else whether its provider has a free
        allowance (a question of the config alone: readers of the store ask it too)."""
        return d.free_tier if d.free_tier is not None else \
            self.providers[d.provider].free_tier is not None

    @model_validator(mode="after")
    def _references(self) -> Config:
        problems: list[str] = []
        ids: set[str] = set()
        for i, d in enumerate(self.deployments):
            if d.provider not in self.providers:
                problems.append(f"deployments[{i}].provider: unknown provider {d.provider!r}")
            if d.id in ids:
                problems.append(f"deployments[{i}]: duplicate deployment {d.id!r}")
            ids.add(d.id)
        for name, r in self.routes.items():
            for c in r.candidates:
                if c not in ids:
                    problems.append(f"routes.{name}.candidates: unknown deployment {c!r}")
            for f in r.fallbacks:
                if f not in self.routes:
                    problems.append(f"routes.{name}.fallbacks: unknown route {f!r}")
                elif f == name:
                    problems.append(f"routes.{name}.fallbacks: a route cannot fall back to itself")
            if r.slo is not None and not RULE_NAME.match(f"slo:{name}:availability:page-fast"):
                problems.append(f"routes.{name}.slo: the route's name is too long or unusual "
                                "for its alert rules' names (letters, digits, _ . : -)")
            if r.context_fallback and r.context_fallback not in self.routes:
                problems.append(
                    f"routes.{name}.context_fallback: unknown route {r.context_fallback!r}"
                )
        for i, rule in enumerate(self.rules):
            if rule.route not in self.routes:
                problems.append(f"rules[{i}].route: unknown route {rule.route!r}")
            if rule.match.route and rule.match.route not in self.routes:
                problems.append(f"rules[{i}].match.route: unknown route {rule.match.route!r}")
        for name in self.quotas.per_route:
            if name not in self.routes:
                problems.append(f"quotas.per_route.{name}: unknown route {name!r}")
        for i, b in enumerate(self.budgets):
            if b.scope.startswith("route:") and b.scope[6:] not in self.routes:
                problems.append(f"budgets[{i}].scope: unknown route {b.scope[6:]!r}")
        names: set[str] = set()
        for i, k in enumerate(self.keys):
            if k.name in names:
                problems.append(f"keys[{i}].name: duplicate key name {k.name!r}")
            names.add(k.name)
            for r in k.routes or []:
                if r not in self.routes:
                    problems.append(f"keys[{i}].routes: unknown route {r!r}")
        for name, r in self.routes.items():
            if (r.cache is not None and r.cache.backend == "redis"
                    and not (self.redis.url or self.redis.url_env)):
                problems.append(f"routes.{name}.cache.backend: \"redis\" needs [redis] url")
        problems.extend(self._flag_problems(ids))
        problems.extend(self._alert_problems())
        for pname, p in self.providers.items():
            if p.protocol == "sim" and p.sim is None:
                problems.append(f"providers.{pname}.sim: a sim provider needs a [sim] profile")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _flag_problems(self, ids: set[str]) -> list[str]:
        problems = []
        for name, f in self.flags.items():
            at = f"flags.{name}"
            if not FLAG_NAME.match(name):
                problems.append(f"{at}: a flag name is lower-case letters, digits, _ and -")
            e = f.effect
            if e.route is not None and e.route not in self.routes:
                problems.append(f"{at}.effect.route: unknown route {e.route!r}")
            for d in e.deployments():
                if d not in ids:
                    problems.append(f"{at}.effect: unknown deployment {d!r}")
            if (e.kind == "capability" and e.route in self.routes and e.deployment in ids
                    and e.deployment not in self.routes[e.route].candidates):
                # a capability flag grants, it does not add candidates (a split does)
                problems.append(f"{at}.effect.route: {e.deployment!r} is not a candidate of "
                                f"route {e.route!r}")
        return problems

    def _alert_problems(self) -> list[str]:
        problems, names = [], set()
        for i, rule in enumerate(self.alerts):
            if "[" in rule.name:
                problems.append(f"alerts[{i}].name: [ ] are kept for a wildcard rule's alerts")
            if rule.name in names:
                problems.append(f"alerts[{i}].name: duplicate alert rule {rule.name!r}")
            names.add(rule.name)
            why = check_references(rule, self)
            if why:
                problems.append(f"alerts[{i}].scope: {why}")
        return problems

    def deployment(self, name: str) -> DeploymentConfig:
        for d in self.deployments:
            if d.id == name:
                return d
        raise KeyError(name)


def _find_literal_secrets(data: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            p = f"{path}.{k}" if path else str(k)
            if str(k).lower() in _SECRET_KEYS and isinstance(v, str) and path.startswith(
                "providers."
            ):
                found.append(
                    f"{p}: a literal API key is not allowed in the config; set it in an "
                    f"environment variable and name that with `api_key_env = \"...\"`"
                )
            else:
                found.extend(_find_literal_secrets(v, p))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found.extend(_find_literal_secrets(v, f"{path}[{i}]"))
    return found


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "constrained-", "literal[")):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate a config table. Raises ConfigError whose lines name `source` and key paths."""
    secrets = _find_literal_secrets(data)
    if secrets:
        raise ConfigError([f"{source}: {s}" for s in secrets])
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(validation_problems(e, source)) from None


def validation_problems(e: ValidationError, source: str) -> list[str]:
    """A model's validation errors as `file: key.path: what is wrong` lines (a top-level
    check's message may hold several, `; `-separated, each naming its own path)."""
    problems = []
    for err in e.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        loc = _loc(err["loc"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if loc == "(top level)" and err["type"] == "value_error":
            problems.extend(f"{source}: {m}" for m in msg.split("; "))
        else:
            problems.append(f"{source}: {loc}: {msg}")
    return problems


def read_toml(path: str | Path, error: type[Exception]) -> tuple[dict[str, Any], str]:
    """A TOML file's table and its name for messages; `error([line])` when it is missing,
    unreadable or not TOML."""
    source = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise error([f"{source}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise error([f"{source}: cannot read: {e}"]) from None
    return _toml(text, source, error), source


def _toml(text: str, source: str, error: type[Exception]) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error([f"{source}: not valid TOML: {e}"]) from None


def load_config(path: str | Path | None = None) -> Config:
    """Load `path`, or the bundled demo config when None."""
    if path is None:
        text = resources.files("axtui.fixtures").joinpath("demo.toml").read_text("utf-8")
        source = "demo.toml (bundled)"
        data = _toml(text, source, ConfigError)
    else:
        data, source = read_toml(path, ConfigError)
    return parse_config(data, source)
