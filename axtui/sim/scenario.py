"""The scenario file: simulated upstreams, faults over time, and what a drill drives and checks.

A TOML file read by `axtui sim serve` (upstreams, faults) and `axtui drill` (load, targets).
`load_scenario(path)` returns a frozen `Scenario` or raises `ScenarioError`, whose lines each
name the file, the key path and what is wrong (`f.toml: faults[1].end_s: must be after start_s`).
Times are seconds on the scenario clock: since the sim started, or was restarted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from axtui.config import read_toml, validation_problems

Protocol = Literal["openai", "anthropic", "gemini", "cohere"]
FaultKind = Literal["error", "latency", "rate_limit", "outage", "cut_stream", "slow_first_byte"]
PROTOCOLS: tuple[str, ...] = ("openai", "anthropic", "gemini", "cohere")
FAULT_KINDS: tuple[str, ...] = (
    "error", "latency", "rate_limit", "outage", "cut_stream", "slow_first_byte",
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# the keys each kind reads besides upstream/start_s/end_s/rate/kind; others are a mistake
_KIND_KEYS: dict[str, frozenset[str]] = {
    "error": frozenset({"status"}),
    "latency": frozenset({"factor"}),
    "rate_limit": frozenset({"retry_after_s", "remaining", "reset_s", "status"}),
    "outage": frozenset({"mode"}),
    "cut_stream": frozenset({"after_chunks"}),
    "slow_first_byte": frozenset({"delay_ms"}),
}
_COMMON_KEYS = frozenset({"upstream", "start_s", "end_s", "kind", "rate"})


class ScenarioError(Exception):
    """A scenario problem, phrased as `file: key.path: what is wrong` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioInfo(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(60.0, gt=0)
    seed: int = 0  # `--seed` overrides it


class Upstream(_Strict):
    """One simulated upstream; served under /u/<name>/ by `axtui sim serve`."""

    name: str
    protocol: Protocol = "openai"
    model: str = Field("gpt-4o-mini", min_length=1)
    latency_ms: float = Field(40.0, ge=0)  # a whole non-streamed answer, median
    jitter_ms: float = Field(0.0, ge=0)  # uniform +/- around latency_ms and ttft_ms
    ttft_ms: float = Field(20.0, ge=0)  # a stream's first chunk
    chunk_ms: float = Field(5.0, ge=0)  # between later chunks of a stream
    output_tokens: int = Field(30, ge=1)  # one token per streamed chunk
    rpm_limit: int = Field(10_000, ge=1)  # the limit its rate-limit headers announce
    tpm_limit: int = Field(10_000_000, ge=1)
    # which successful answers carry rate-limit headers (openai, anthropic): `plain` leaves
    # them off streams, as some OpenAI-compatible servers do
    ratelimit_headers: Literal["all", "plain", "none"] = "all"

    @field_validator("name")
    @classmethod
    def _name_ok(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"{name!r}: use lower-case letters, digits, - and _ "
                             "(it is a URL path segment)")
        return name


class Fault(_Strict):
    """A fault on one upstream from start_s to end_s (end_s absent: to the end of time).

    `rate` is the share of requests it hits, drawn per request from the seed. Kinds:
    error (status), latency (factor), rate_limit (status 429, retry_after_s, remaining,
    reset_s: without it the answer has no reset header), outage (mode: reset, close or hang),
    cut_stream (after_chunks), slow_first_byte (delay_ms).
    """

    upstream: str
    kind: FaultKind
    start_s: float = Field(0.0, ge=0)
    end_s: float | None = None
    rate: float = Field(1.0, ge=0, le=1)
    status: int | None = Field(None, ge=400, le=599)
    factor: float = Field(3.0, gt=0)
    retry_after_s: float = Field(1.0, ge=0)
    remaining: int = Field(0, ge=0)
    reset_s: float | None = Field(None, ge=0)
    mode: Literal["reset", "close", "hang"] = "reset"
    after_chunks: int = Field(3, ge=0)
    delay_ms: float = Field(2000.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _keys_fit_kind(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("kind"), str):
            allowed = _KIND_KEYS.get(data["kind"])
            if allowed is not None:
                stray = sorted(k for k in data if k not in _COMMON_KEYS | allowed
                               and k in cls.model_fields)
                if stray:
                    raise ValueError(f"{', '.join(stray)}: not used by kind "
                                     f"{data['kind']!r} (it reads: "
                                     f"{', '.join(sorted(allowed)) or 'nothing else'})")
        return data

    @model_validator(mode="after")
    def _window_ok(self) -> Fault:
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end_s {self.end_s:g} must be after start_s {self.start_s:g}")
        return self

    @property
    def error_status(self) -> int:
        """The HTTP status an error or rate_limit fault answers with."""
        if self.status is not None:
            return self.status
        return 429 if self.kind == "rate_limit" else 503

    def active(self, t: float) -> bool:
        return self.start_s <= t and (self.end_s is None or t < self.end_s)

    def as_json(self) -> dict[str, Any]:
        """The keys its kind reads, for reports (not the defaults of other kinds)."""
        keys = ("upstream", "kind", "start_s", "end_s", "rate", *sorted(_KIND_KEYS[self.kind]))
        out = {k: getattr(self, k) for k in keys}
        if self.kind in ("error", "rate_limit"):
            out["status"] = self.error_status
        return out


class Load(_Strict):
    rps: float = Field(20.0, gt=0)
    concurrency: int = Field(16, ge=1)
    stream_share: float = Field(0.5, ge=0, le=1)


class Targets(_Strict):
    min_success: float = Field(1.0, ge=0, le=1)
    max_p99_overhead_ms: float | None = Field(None, ge=0)
    max_records_lost: int = Field(0, ge=0)
    refused_status: int | None = Field(None, ge=400, le=599)  # what any refusal must be
    max_refusal_ms: float | None = Field(None, gt=0)  # the slowest refusal ("within deadline")
    max_upstream_calls_per_s: float | None = Field(None, gt=0)


class Scenario(_Strict):
    scenario: ScenarioInfo
    upstreams: tuple[Upstream, ...]
    faults: tuple[Fault, ...] = ()
    load: Load = Load()
    targets: Targets = Targets()
    _source: str = PrivateAttr("<scenario>")

    @field_validator("upstreams")
    @classmethod
    def _some_upstream(cls, upstreams: tuple[Upstream, ...]) -> tuple[Upstream, ...]:
        if not upstreams:
            raise ValueError("at least one [[upstreams]] entry is needed")
        return upstreams

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        problems = []
        seen: set[str] = set()
        for i, u in enumerate(self.upstreams):
            if u.name in seen:
                problems.append(f"upstreams[{i}].name: {u.name!r} is already used")
            seen.add(u.name)
        for i, f in enumerate(self.faults):
            if f.upstream not in seen:
                problems.append(f"faults[{i}].upstream: no upstream named {f.upstream!r} "
                                f"(upstreams: {', '.join(sorted(seen))})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def source(self) -> str:
        """The file it came from, for messages."""
        return self._source

    @property
    def name(self) -> str:
        return self.scenario.name

    def upstream(self, name: str) -> Upstream:
        for u in self.upstreams:
            if u.name == name:
                return u
        raise KeyError(name)

    def faults_for(self, upstream: str) -> tuple[Fault, ...]:
        return tuple(f for f in self.faults if f.upstream == upstream)


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario table. Raises ScenarioError whose lines name `source` and keys."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(validation_problems(e, source)) from None
    scenario._source = source
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file. Raises ScenarioError (file, key, problem)."""
    data, source = read_toml(path, ScenarioError)
    return parse_scenario(data, source)


def single_upstream(protocol: str = "openai", model: str | None = None) -> Scenario:
    """A scenario with one healthy upstream named `default`: `sim serve` without a file."""
    fields: dict[str, Any] = {"name": "default", "protocol": protocol}
    if model:
        fields["model"] = model
    return parse_scenario({"scenario": {"name": "healthy"}, "upstreams": [fields]},
                          "<no scenario>")


def with_protocol(scenario: Scenario, protocol: str) -> Scenario:
    """The scenario with every upstream speaking `protocol` (`sim serve --protocol`)."""
    if protocol not in PROTOCOLS:
        raise ScenarioError([f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}"])
    data = scenario.model_dump(exclude_unset=True)  # defaults of other fault kinds stay unset
    data["upstreams"] = [{**u, "protocol": protocol} for u in data["upstreams"]]
    return parse_scenario(data, scenario.source)


def bundled_scenarios() -> dict[str, Path]:
    """The scenarios shipped in fixtures/scenarios/, by file stem (`one_provider_down`)."""
    from importlib import resources

    folder = resources.files("axtui.fixtures").joinpath("scenarios")
    return {Path(f.name).stem: Path(str(f)) for f in folder.iterdir()
            if f.name.endswith(".toml")}


def find_scenario(name_or_path: str | Path) -> Path:
    """A path as given when it exists, else a bundled scenario by stem. ScenarioError if neither."""
    p = Path(name_or_path)
    if p.exists():
        return p
    bundled = bundled_scenarios()
    stem = p.stem if p.suffix == ".toml" and len(p.parts) == 1 else str(p)
    if stem in bundled:
        return bundled[stem]
    raise ScenarioError([f"{name_or_path}: no such file, and no bundled scenario of that name "
                         f"(bundled: {', '.join(sorted(bundled))})"])
