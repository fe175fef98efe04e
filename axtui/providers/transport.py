"""The HTTP machinery the JSON-over-HTTP adapters share: the one shared client
(`make_http_client`), `post_json`, which reads a whole response within the timeouts (over the
small HTTP/1.1 pool in `http1`), and `EventStream`, which reads server-sent events one by one
within them (over the same pool); plus reading a JSON body and classifying an error status whose body is not the
vendor's error JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Coroutine, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
import orjson
from httpx_sse import EventSource, ServerSentEvent

from axtui.providers.base import REQUEST_DEADLINE, Provider, RateLimitInfo
from axtui.providers.errors import ProviderError, classify_status, error_from_transport
from axtui.providers.http1 import BodyStream, Http1Pool, Response, endpoint, header_block
from axtui.providers.sse import SseDecoder
from axtui.records import ErrorKind

T = TypeVar("T")
DRAIN_S = 0.05  # after `[DONE]`, how long a body may take to end and keep its connection
_DRAINING: set[asyncio.Future[None]] = set()


async def _drain_then_close(body: BodyStream) -> None:
    """A body whose events are all read but whose end has not come: read to its end (the
    connection then goes back to the pool) or, past DRAIN_S, close it."""
    try:
        await body.drain(DRAIN_S)
    finally:
        body.close()

# --------------------------------------------------------------------------- the shared client


class SharedClient(httpx.AsyncClient):
    """The one shared client for every provider: httpx's API over aiohttp's transport
    (httpx's own pool measured ~6x slower here; see DESIGN.md), and beside it `http1`, the
    small HTTP/1.1 pool that JSON calls (`post_json`: ~20 µs of CPU a call against
    aiohttp's ~100-130 µs) and streams (`EventStream`) take. Closing the client closes both."""

    def __init__(self, *, max_connections: int = 512, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http1 = Http1Pool(max_connections=max_connections)

    async def aclose(self) -> None:
        await self.http1.aclose()
        await super().aclose()


def make_http_client(max_connections: int = 512) -> httpx.AsyncClient:
    """The shared client (see SharedClient). Per-call timeouts are passed on each request."""
    from httpx_aiohttp import AiohttpTransport

    return SharedClient(
        max_connections=max_connections,
        transport=AiohttpTransport(),
        limits=httpx.Limits(max_connections=max_connections),
        timeout=httpx.Timeout(60.0, connect=5.0),
    )


# --------------------------------------------------------------------------- calls


def client_of(provider: Provider) -> httpx.AsyncClient:
    """The shared client, or (for an adapter built without one) a private one made once,
    which `close_own_client` releases."""
    if provider.client is None:
        provider.client = make_http_client()
        provider._owns_client = True  # type: ignore[attr-defined]
    return provider.client


async def close_own_client(provider: Provider) -> None:
    if getattr(provider, "_owns_client", False) and provider.client is not None:
        await provider.client.aclose()
        provider.client = None
        provider._owns_client = False  # type: ignore[attr-defined]


def post_json(
    provider: Provider, url: str, headers: dict[str, str], body: dict[str, Any]
) -> Coroutine[Any, Any, Response | httpx.Response]:
    """POST a JSON body and read the whole response: connect/read timeouts per step, and the
    total timeout (or the request's deadline, if sooner) around everything.

    Over the shared client this takes its small HTTP/1.1 pool (`axtui.providers.http1`):
    aiohttp's session measured ~100-130 µs of CPU a call, the pool ~20 µs, and the pool
    sends the request in the caller's own step (aiohttp, on Python 3.11, a loop iteration
    later). Any other client (or URL) goes through httpx. Streams take the pool too
    (EventStream).
    The response has `status_code`, `headers` (a case-insensitive `.get`) and `content`.
    (A plain function returning post_bytes' coroutine: no second coroutine per call.)"""
    return post_bytes(provider, url, headers, orjson.dumps(body))


async def post_bytes(
    provider: Provider, url: str, headers: dict[str, str], data: bytes
) -> Response | httpx.Response:
    """`post_json` for a body already encoded (a multipart form): `headers` give its type."""
    total = provider.timeouts.total
    at = asyncio.get_running_loop().time() + total
    deadline = REQUEST_DEADLINE.get()
    by_deadline = deadline is not None and deadline < at
    if by_deadline:
        at = deadline
    client = client_of(provider)
    pool = getattr(client, "http1", None)
    ep = endpoint(url) if pool is not None else None
    try:
        if ep is not None:
            try:
                lines = header_block(tuple(headers.items()))
            except ValueError:
                raise ProviderError(ErrorKind.connect, "could not send the request: a header "
                                    "name or value holds CR, LF or NUL (check the provider's "
                                    "API key and headers)") from None
            t = provider.timeouts
            return await pool.post(ep, lines, data, deadline=at, connect_s=t.connect,
                                   read_s=t.read)
        async with asyncio.timeout_at(at):
            return await client.post(url, content=data, headers=headers,
                                     timeout=provider.http_timeout())
    except httpx.HTTPError as exc:
        raise error_from_transport(exc) from exc
    except TimeoutError:
        what = "the request's deadline" if by_deadline else f"{total:g}s"
        raise ProviderError(ErrorKind.timeout, f"no complete response within {what}") from None


class EventStream:
    """One streaming POST read as server-sent events. The response must start within the
    read timeout, each event must follow the last within it, and all of it must end within
    the total timeout.

    Over the shared client this takes the HTTP/1.1 pool (`http1.BodyStream`, decoded by
    `sse.SseDecoder`): its one timer per request bounds every read, where httpx's path set
    a timer per event and went through httpx, anyio and aiohttp for each piece (the
    gateway's CPU a chunk relayed, bench_gateway's streaming case: ~137 -> ~115 µs, most
    of the rest is the client socket's send). Any other client goes through httpx, with
    timeouts scoped to single steps, never across a `yield`."""

    def __init__(
        self, provider: Provider, url: str, headers: dict[str, str],
        body: dict[str, Any] | bytes,
    ) -> None:
        self._provider = provider
        data = body if isinstance(body, bytes) else orjson.dumps(body)  # bytes: a form
        self._url, self._headers, self._data = url, headers, data
        client = client_of(provider)
        self._pool = getattr(client, "http1", None)
        self._ep = endpoint(url) if self._pool is not None else None
        self._deadline = 0.0
        self._sse: AsyncGenerator[ServerSentEvent, None] | None = None
        self._body: BodyStream | None = None
        self.response: httpx.Response | None = None

    async def __aenter__(self) -> EventStream:
        t = self._provider.timeouts
        self._deadline = asyncio.get_running_loop().time() + t.total
        if self._ep is not None:
            try:
                lines = header_block(tuple(self._headers.items()))
            except ValueError:
                raise ProviderError(ErrorKind.connect, "could not send the request: a header "
                                    "name or value holds CR, LF or NUL (check the provider's "
                                    "API key and headers)") from None
            self._body = await self._pooled(self._pool.stream(
                self._ep, lines, self._data, deadline=self._deadline, connect_s=t.connect,
                read_s=t.read))
            return self
        client = client_of(self._provider)
        request = client.build_request("POST", self._url, content=self._data,
                                       headers=self._headers,
                                       timeout=self._provider.http_timeout())
        self.response = await self._step(client.send(request, stream=True), per_read=True)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        body = self._body
        if body is not None:
            if et is None and not body.ended:  # all wanted is read; the body's end is not
                task = asyncio.ensure_future(_drain_then_close(body))
                _DRAINING.add(task)  # off the caller's path: its stream is over already
                task.add_done_callback(_DRAINING.discard)
            else:
                body.close()
        if self._sse is not None:
            await self._sse.aclose()
        if self.response is not None:
            await self.response.aclose()

    @property
    def status(self) -> int:
        if self._body is not None:
            return self._body.status_code
        assert self.response is not None
        return self.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        if self._body is not None:
            return self._body.headers
        assert self.response is not None
        return self.response.headers

    def is_event_stream(self) -> bool:
        return "text/event-stream" in self.headers.get("content-type", "")

    async def read_body(self) -> bytes:
        """The whole body (for an error status), within the total timeout."""
        if self._body is not None:
            return await self._pooled(self._body.read_all())
        assert self.response is not None
        return await self._step(self.response.aread(), per_read=False)

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        body = self._body
        if body is not None:
            decoder = SseDecoder()
            while piece := await self._pooled(body.read()):
                for event in decoder.feed(piece):
                    yield event
            decoder.close()
            return
        assert self.response is not None
        self._sse = EventSource(self.response).aiter_sse()
        while True:
            try:
                event = await self._step(anext(self._sse), per_read=True)
            except StopAsyncIteration:
                return
            yield event

    async def _pooled(self, step: Awaitable[T]) -> T:
        """A step over the pool, whose timer bounds it (a read timeout is the pool's
        ProviderError); the total timeout's TimeoutError worded as a stalled stream's."""
        try:
            return await step
        except TimeoutError:
            total = self._provider.timeouts.total
            raise ProviderError(ErrorKind.timeout, f"upstream stalled ({total:g}s total)"
                                ) from None

    async def _step(self, step: Awaitable[T], *, per_read: bool) -> T:
        loop = asyncio.get_running_loop()
        read = self._provider.timeouts.read
        at = min(self._deadline, loop.time() + read) if per_read else self._deadline
        try:
            async with asyncio.timeout_at(at):
                return await step
        except TimeoutError:
            total = self._provider.timeouts.total
            what = f"{total:g}s total" if at >= self._deadline else f"{read:g}s read timeout"
            raise ProviderError(ErrorKind.timeout, f"upstream stalled ({what})") from None
        except httpx.HTTPError as exc:
            raise error_from_transport(exc) from exc


def load_json(raw: bytes | str, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProviderError(ErrorKind.malformed, f"upstream sent invalid JSON ({what})") from None


def status_error(
    provider: Provider, status: int, raw: bytes, *, retry_after_s: float | None,
    ratelimit: RateLimitInfo | None = None,
) -> ProviderError:
    """An error status whose body is not the vendor's error JSON (a proxy's HTML page, plain
    text): classified by status and text, the text redacted and cut short."""
    text = provider.redact(raw[:200].decode("utf-8", "replace"))
    return ProviderError(
        classify_status(status, text),
        f"HTTP {status}: {text}" if text else f"HTTP {status}",
        status=status,
        retry_after_s=retry_after_s,
        ratelimit=ratelimit,
    )
