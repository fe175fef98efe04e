"""Probe deployments with tiny real requests and compare what they do with what the catalog
claims: a plain completion (is it reachable at all), a stream, a forced tool call, and JSON
mode. Vision and reasoning are reported as not probed: a cheap request proves nothing there.

A capability counts as unsupported only on evidence about that capability (the upstream
refused the request with a 400, answered a stream request without a stream, ignored a forced
tool, or sent non-JSON in JSON mode). Anything else (a 500, a timeout, a 429 after one retry)
is an error: inconclusive, never drift.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
import orjson

from axtui.clock import Clock, RealClock
from axtui.config import Config, SimProfile
from axtui.engine.catalog import Catalog, DeploymentSpec
from axtui.providers import build_provider
from axtui.providers.base import ChatRequest, Provider
from axtui.providers.errors import ProviderError
from axtui.providers.transport import make_http_client
from axtui.records import ErrorKind

PROBED = ("streaming", "tools", "json")
_NOT_PROBED = {
    "vision": "not probed (needs an image; a tiny request proves nothing)",
    "reasoning": "not probed (no portable signal that a model reasoned)",
}

_SMALL_MAX_TOKENS = 16
_ROOMY_MAX_TOKENS = 64  # a tool call or a JSON object needs room; a thinking model spends some
_TRANSIENT = frozenset({ErrorKind.rate_limited, ErrorKind.overloaded, ErrorKind.server})
_TRIES = 2  # one retry for a transient error, so a single 500 is not reported
_RETRY_WAIT_CAP_S = 2.0
_UNREACHABLE_HINT = {
    ErrorKind.auth: "check the key in the provider's api_key_env",
    ErrorKind.not_found: "check the model id and base_url",
    ErrorKind.connect: "check base_url and that the server is up",
}

TOOL_NAME = "axtui_probe"
_TOOL = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Records that the capability probe ran.",
        "parameters": {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
        },
    },
}
_PLAIN = "Reply with the single word: ok"
_TOOL_PROMPT = f"Call the {TOOL_NAME} tool with ok set to true."
_JSON_PROMPT = 'Reply with exactly this JSON object and nothing else: {"ok": true}'


class ProbeStatus(StrEnum):
    supported = "supported"
    unsupported = "unsupported"
    error = "error"  # the probe could not tell (or, for the completion, the deployment failed)
    not_probed = "not_probed"


@dataclass(slots=True, frozen=True)
class Probe:
    """One probe's verdict, with a one-line reason (never holding a key)."""

    status: ProbeStatus
    detail: str = ""
    latency_ms: float | None = None
    error_kind: ErrorKind | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "detail": self.detail,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "error_kind": self.error_kind.value if self.error_kind else None,
        }


@dataclass(slots=True)
class ProbeResult:
    deployment: str
    provider: str
    model: str
    protocol: str
    claimed: frozenset[str]
    completion: Probe
    capabilities: dict[str, Probe] = field(default_factory=dict)

    @property
    def reachable(self) -> bool:
        return self.completion.status is ProbeStatus.supported

    def _with(self, status: ProbeStatus) -> list[str]:
        return sorted(c for c, p in self.capabilities.items() if p.status is status)

    @property
    def claimed_but_missing(self) -> list[str]:
        return [c for c in self._with(ProbeStatus.unsupported) if c in self.claimed]

    @property
    def working_but_unclaimed(self) -> list[str]:
        """The cheap model nobody routes to because the catalog undersells it."""
        return [c for c in self._with(ProbeStatus.supported) if c not in self.claimed]

    @property
    def inconclusive(self) -> list[str]:
        return self._with(ProbeStatus.error)

    @property
    def has_drift(self) -> bool:
        return bool(self.claimed_but_missing or self.working_but_unclaimed)

    def suggested_capabilities(self) -> list[str]:
        """What `capabilities` should say, keeping claims the probe could not check."""
        return sorted(
            (self.claimed - set(self.claimed_but_missing)) | set(self.working_but_unclaimed)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "provider": self.provider,
            "model": self.model,
            "protocol": self.protocol,
            "claimed": sorted(self.claimed),
            "reachable": self.reachable,
            "completion": self.completion.to_json(),
            "capabilities": {c: p.to_json() for c, p in self.capabilities.items()},
            "claimed_but_missing": self.claimed_but_missing,
            "working_but_unclaimed": self.working_but_unclaimed,
            "inconclusive": self.inconclusive,
            "suggested_capabilities": self.suggested_capabilities(),
        }


# --------------------------------------------------------------------------- one deployment


async def probe_deployment(
    provider: Provider, spec: DeploymentSpec, *, timeout_s: float
) -> ProbeResult:
    """Probe one deployment, one request at a time (so a rate limit is not tripped by us)."""
    prober = _Prober(provider, spec.model, timeout_s)
    if spec.audio is not None:  # a transcription deployment: one transcription, no chat
        result = ProbeResult(spec.id, spec.provider, spec.model, spec.protocol,
                             spec.capabilities, await prober.transcription())
        skipped = Probe(ProbeStatus.not_probed, "a transcription deployment: no chat")
        result.capabilities = {c: skipped for c in (*PROBED, *_NOT_PROBED)}
        return result
    completion = await prober.completion()
    result = ProbeResult(
        spec.id, spec.provider, spec.model, spec.protocol, spec.capabilities, completion
    )
    if not result.reachable:
        skipped = Probe(ProbeStatus.not_probed, "skipped: the plain completion failed")
        result.capabilities = {c: skipped for c in PROBED}
    else:
        result.capabilities = {
            "streaming": await prober.streaming(),
            "tools": await prober.tools(),
            "json": await prober.json_mode(),
        }
    for cap, why in _NOT_PROBED.items():
        result.capabilities[cap] = Probe(ProbeStatus.not_probed, why)
    return result


class _Prober:
    def __init__(self, provider: Provider, model: str, timeout_s: float) -> None:
        self.provider = provider
        self.model = model
        self.timeout_s = timeout_s

    async def completion(self) -> Probe:
        req = ChatRequest(messages=_user(_PLAIN), max_tokens=_SMALL_MAX_TOKENS)
        ok, err, ms = await self._call(lambda: self.provider.complete(req, self.model))
        if err is not None:
            hint = _UNREACHABLE_HINT.get(err.kind)
            return self._error(err, ms, suffix=f" ({hint})" if hint else "")
        return Probe(ProbeStatus.supported, f"answered (finish {ok.finish_reason})", ms)

    async def transcription(self) -> Probe:
        from axtui.providers.audio import TranscriptionRequest

        req = TranscriptionRequest(_silent_wav(), "probe.wav", "wav")
        _, err, ms = await self._call(lambda: self.provider.transcribe(req, self.model))
        if err is not None:
            hint = _UNREACHABLE_HINT.get(err.kind)
            return self._error(err, ms, suffix=f" ({hint})" if hint else "")
        return Probe(ProbeStatus.supported, "transcribed 1 s of silence", ms)

    async def streaming(self) -> Probe:
        req = ChatRequest(messages=_user(_PLAIN), max_tokens=_SMALL_MAX_TOKENS, stream=True)
        pieces = 0  # chunks with content, so a break can be told from no stream at all

        async def read() -> str | None:
            nonlocal pieces
            pieces, finish = 0, None
            async with contextlib.aclosing(self.provider.stream(req, self.model)) as chunks:
                async for chunk in chunks:
                    if chunk.content or chunk.tool_calls:
                        pieces += 1
                    finish = chunk.finish_reason or finish
            return finish

        finish, err, ms = await self._call(read)
        if err is None:
            return Probe(
                ProbeStatus.supported,
                f"streamed {pieces} chunk(s) and a final chunk (finish {finish})",
                ms,
            )
        if err.kind is ErrorKind.bad_request:
            return self._unsupported(err, ms, "refused a stream")
        if err.kind is ErrorKind.malformed and pieces == 0:
            return self._unsupported(err, ms, "answered a stream request without a stream")
        return self._error(err, ms)

    async def tools(self) -> Probe:
        forced = {"type": "function", "function": {"name": TOOL_NAME}}
        req = ChatRequest(
            messages=_user(_TOOL_PROMPT),
            max_tokens=_ROOMY_MAX_TOKENS,
            tools=[_TOOL],
            tool_choice=forced,
        )
        resp, err, ms = await self._call(lambda: self.provider.complete(req, self.model))
        if err is not None:
            if err.kind is ErrorKind.bad_request:
                return self._unsupported(err, ms, "refused tools")
            return self._error(err, ms)
        names = [str((c.get("function") or {}).get("name")) for c in resp.tool_calls]
        if TOOL_NAME in names:
            return Probe(ProbeStatus.supported, "made the forced tool call", ms)
        if names:
            return Probe(
                ProbeStatus.unsupported,
                f"called {', '.join(names)} instead of the forced {TOOL_NAME}",
                ms,
            )
        if self.provider.protocol == "sim":  # the simulator models acceptance, not tool calls
            return Probe(ProbeStatus.supported, "accepted tools (the sim makes no tool calls)", ms)
        if resp.finish_reason == "length":
            return Probe(ProbeStatus.error, "ran out of tokens before any tool call", ms)
        return Probe(
            ProbeStatus.unsupported,
            "answered in plain text despite a forced tool call (tools ignored)",
            ms,
        )

    async def json_mode(self) -> Probe:
        req = ChatRequest(
            messages=_user(_JSON_PROMPT),
            max_tokens=_ROOMY_MAX_TOKENS,
            response_format={"type": "json_object"},
        )
        resp, err, ms = await self._call(lambda: self.provider.complete(req, self.model))
        if err is not None:
            if err.kind is ErrorKind.bad_request:
                return self._unsupported(err, ms, "refused JSON mode")
            return self._error(err, ms)
        if _is_json_object(resp.content):
            return Probe(ProbeStatus.supported, "answered a JSON object in JSON mode", ms)
        if resp.finish_reason == "length":
            return Probe(ProbeStatus.error, "ran out of tokens before the JSON closed", ms)
        return Probe(
            ProbeStatus.unsupported,
            "answered in JSON mode with content that is not a JSON object",
            ms,
        )

    # ---------------------------------------------------------------- machinery

    async def _call(
        self, fn: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, ProviderError | None, float]:
        """Run one probe within the timeout; retry once after a transient error."""
        clock = self.provider.clock
        for attempt in range(_TRIES):
            t0 = clock.monotonic()
            try:
                async with asyncio.timeout(self.timeout_s):
                    value = await fn()
                return value, None, (clock.monotonic() - t0) * 1000.0
            except TimeoutError:
                err = ProviderError(ErrorKind.timeout, f"no answer within {self.timeout_s:g}s")
            except ProviderError as e:
                err = e
            ms = (clock.monotonic() - t0) * 1000.0
            if err.kind not in _TRANSIENT or attempt == _TRIES - 1:
                return None, err, ms
            await clock.sleep(min(err.retry_after_s or 1.0, _RETRY_WAIT_CAP_S))
        raise AssertionError("unreachable")  # the loop always returns

    def _line(self, err: ProviderError) -> str:
        return self.provider.redact(err.message or err.kind.value)

    def _error(self, err: ProviderError, ms: float, suffix: str = "") -> Probe:
        return Probe(ProbeStatus.error, self._line(err) + suffix, ms, err.kind)

    def _unsupported(self, err: ProviderError, ms: float, what: str) -> Probe:
        return Probe(ProbeStatus.unsupported, f"{what}: {self._line(err)}", ms, err.kind)


def _silent_wav() -> bytes:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))
    return buf.getvalue()


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]  # fresh each time: adapters own their request


def _is_json_object(content: str | None) -> bool:
    if not content:
        return False
    try:
        return isinstance(orjson.loads(content.strip()), dict)
    except orjson.JSONDecodeError:
        return False


# --------------------------------------------------------------------------- the whole config


def select_deployments(cfg: Config, names: Iterable[str] | None = None) -> list[DeploymentSpec]:
    """The deployments `names` pick (each a provider name or a deployment id), in config
    order; all of them for None. Raises ValueError naming the known names."""
    specs = list(Catalog(cfg))
    if isinstance(names, str):
        names = [names]
    wanted = [n for n in names or () if n]
    if not wanted:
        return specs
    known = {s.provider for s in specs} | {s.id for s in specs}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(
            f"unknown provider or deployment {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    return [s for s in specs if s.provider in wanted or s.id in wanted]


async def probe_all(
    cfg: Config,
    names: Iterable[str] | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    clock: Clock | None = None,
    concurrency: int = 4,
    timeout_s: float = 20.0,
) -> list[ProbeResult]:
    """Probe the chosen deployments (all by default), up to `concurrency` at once, through
    one shared HTTP client (made here and closed at the end unless one is given). Results
    come back in config order."""
    specs = select_deployments(cfg, names)
    clock = clock or RealClock()
    used = {s.provider for s in specs}
    own_client = client is None and any(cfg.providers[p].protocol != "sim" for p in used)
    if own_client:
        client = make_http_client()
    sim_models: dict[str, dict[str, SimProfile]] = {}
    for d in cfg.deployments:
        if d.sim is not None:
            sim_models.setdefault(d.provider, {})[d.model] = d.sim
    providers: dict[str, Provider] = {}
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(spec: DeploymentSpec) -> ProbeResult:
        async with gate:
            return await probe_deployment(providers[spec.provider], spec, timeout_s=timeout_s)

    try:
        for p in sorted(used):
            providers[p] = build_provider(p, cfg.providers[p], client, clock, sim_models.get(p))
        return list(await asyncio.gather(*(one(s) for s in specs)))
    finally:
        for provider in providers.values():
            await provider.aclose()
        if own_client and client is not None:
            await client.aclose()


__all__ = [
    "PROBED",
    "TOOL_NAME",
    "Probe",
    "ProbeResult",
    "ProbeStatus",
    "probe_all",
    "probe_deployment",
    "select_deployments",
]
