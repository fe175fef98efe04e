"""The drill's client: paced, open-loop load through the official openai SDK (AsyncOpenAI),
plain and streaming, recording what each caller saw (status, latency, the x-request-id the
gateway answered with, a retry-after when refused).

Requests are scheduled at a fixed rate; at most `concurrency` are in flight, so a gateway that
slows down makes requests start late (counted as `late`) rather than piling up without bound.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

LATE_S = 0.1  # a request that starts this much after its slot counts as late


@dataclass(frozen=True, slots=True)
class LoadPlan:
    rps: float
    concurrency: int
    stream_share: float
    duration_s: float
    seed: int = 0
    model: str = "chat"  # the gateway route the drill's config names
    timeout_s: float = 60.0
    max_tokens: int | None = None


@dataclass(slots=True)
class Outcome:
    """One request as its caller saw it."""

    index: int
    sent_s: float  # seconds after the load started
    stream: bool
    latency_ms: float = 0.0  # until the whole answer (a stream's last chunk) or the error
    ttft_ms: float | None = None  # a stream's first content chunk
    ok: bool = False
    status: int | None = None  # HTTP status; None: no answer (connection refused, timeout)
    request_id: str | None = None  # x-request-id, when the gateway answered at all
    deployment: str | None = None  # x-axtui-deployment
    retry_after: str | None = None
    error: str | None = None  # the error code, or what went wrong, in a few words
    message: str | None = None  # an error body's message: the reason the caller was given
    # the gateway's answer arrived whole: a body, an error body, or a stream that ended
    # (False: the connection broke off, e.g. the gateway was killed mid-stream)
    finished: bool = False


@dataclass(slots=True)
class LoadResult:
    plan: LoadPlan
    started_at: float  # wall time (time.time()) of the first slot
    outcomes: list[Outcome] = field(default_factory=list)
    late: int = 0  # requests that waited for a free slot past LATE_S
    unexpected: dict[str, int] = field(default_factory=dict)  # exception type -> count


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"drill request {i}: say something short"}]


def _headers_into(out: Outcome, headers: Any) -> None:
    out.request_id = headers.get("x-request-id")
    out.deployment = headers.get("x-axtui-deployment")
    out.retry_after = headers.get("retry-after")


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("code") or err.get("type") or "") or None
    return None


def _error_message(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:200]
    return None


async def _plain(client: Any, plan: LoadPlan, out: Outcome, t0: float) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model=plan.model, messages=_messages(out.index), **_extra(plan))
    out.status = raw.status_code
    _headers_into(out, raw.headers)
    completion = raw.parse()
    out.latency_ms = (time.perf_counter() - t0) * 1000
    choice = completion.choices[0] if completion.choices else None
    out.finished = True
    out.ok = choice is not None and choice.message.content is not None
    if not out.ok:
        out.error = "empty_answer"


async def _stream(client: Any, plan: LoadPlan, out: Outcome, t0: float) -> None:
    async with client.chat.completions.with_streaming_response.create(
            model=plan.model, messages=_messages(out.index), stream=True,
            **_extra(plan)) as resp:
        out.status = resp.status_code
        _headers_into(out, resp.headers)
        finished = False
        stream = await resp.parse()
        async for chunk in stream:
            if out.ttft_ms is None and chunk.choices and chunk.choices[0].delta.content:
                out.ttft_ms = (time.perf_counter() - t0) * 1000
            if chunk.choices and chunk.choices[0].finish_reason:
                finished = True
    out.latency_ms = (time.perf_counter() - t0) * 1000
    out.finished = True
    # the SDK ends quietly when a stream stops without its terminator: a caller would
    # have a truncated answer, so no finish_reason is a failure
    out.ok = finished
    if not finished:
        out.error = "stream_cut"


def _extra(plan: LoadPlan) -> dict[str, Any]:
    return {"max_tokens": plan.max_tokens} if plan.max_tokens else {}


async def _one(client: Any, plan: LoadPlan, out: Outcome, unexpected: dict[str, int]) -> None:
    import httpx
    import openai

    t0 = time.perf_counter()
    try:
        await (_stream if out.stream else _plain)(client, plan, out, t0)
    except openai.APIStatusError as e:
        out.status = e.status_code
        _headers_into(out, e.response.headers)
        out.error = _error_code(e.body) or f"http_{e.status_code}"
        out.message = _error_message(e.body)
        out.finished = True
    except openai.APITimeoutError:
        out.error = "timeout"
    except openai.APIConnectionError:
        out.error = "connection"
    except openai.APIError as e:  # an error event inside a stream the gateway answered 200
        out.error = _error_code(e.body) or "stream_error"
        out.message = _error_message(e.body)
        out.finished = True
    except httpx.TransportError:  # a stream whose connection broke off (the SDK lets it out)
        out.error = "connection_lost"
    except Exception as e:  # anything else the SDK raises: counted and shown, not hidden
        name = type(e).__name__
        unexpected[name] = unexpected.get(name, 0) + 1
        log.warning("drill request %d: %s: %s", out.index, name, e)
        out.error = name
    if not out.ok and out.latency_ms == 0.0:
        out.latency_ms = (time.perf_counter() - t0) * 1000


async def run_load(base_url: str, plan: LoadPlan,
                   at_start: Callable[[], Awaitable[Any]] | None = None) -> LoadResult:
    """Send `rps` requests a second for `duration_s` to `base_url` (an OpenAI-compatible /v1),
    then wait for every one to finish. `at_start()` is awaited just before the first slot
    (the drill restarts the scenario clock there)."""
    import httpx
    import openai

    from axtui.heap import tune_gc

    rng = random.Random(plan.seed)
    total = max(1, int(plan.rps * plan.duration_s))
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=plan.concurrency,
                                                 max_keepalive_connections=plan.concurrency),
                             timeout=plan.timeout_s)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="drill", max_retries=0,
                                timeout=plan.timeout_s, http_client=http)
    slots = asyncio.Semaphore(plan.concurrency)
    result = LoadResult(plan, started_at=time.time())
    tasks: list[asyncio.Task] = []

    async def fire(out: Outcome) -> None:
        try:
            await _one(client, plan, out, result.unexpected)
        finally:
            slots.release()

    # The caller's own pauses would read as the gateway's latency: full collections of the
    # SDK's and pydantic's imports paused this process up to ~80 ms late in a drill.
    tune_gc()
    try:
        if at_start is not None:
            await at_start()
        start = time.perf_counter()
        result.started_at = time.time()
        for i in range(total):
            due = start + i / plan.rps
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            now = time.perf_counter()
            if now - due > LATE_S:
                result.late += 1
            out = Outcome(index=i, sent_s=now - start, stream=rng.random() < plan.stream_share)
            result.outcomes.append(out)
            tasks.append(asyncio.create_task(fire(out)))
        await asyncio.gather(*tasks)
    finally:
        await client.close()
        await http.aclose()
    return result
