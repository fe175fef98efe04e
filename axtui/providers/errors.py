"""The error taxonomy every adapter raises: `ProviderError` (a failed call, normalized, of one
`ErrorKind`), and the two classifiers, by HTTP status and by transport failure.

Kept apart from `base` so the HTTP/1.1 pool (`http1`) can raise it without importing the
adapter contract.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx

from axtui.records import ErrorKind

if TYPE_CHECKING:
    from axtui.providers.base import RateLimitInfo


class ProviderError(Exception):
    """A failed call, normalized. The message is short and never holds a secret."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        ratelimit: RateLimitInfo | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.ratelimit = ratelimit
        # False when waiting will not help soon (e.g. a per-day quota is exhausted).
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ProviderError({self.kind.value}, status={self.status}, {self.message!r})"


_CONTEXT_HINTS = re.compile(
    r"context[_ ]length|context window|maximum context|too many tokens|prompt is too long|"
    r"input is too long|exceeds the maximum|token limit",
    re.I,
)
_POLICY_HINTS = re.compile(r"content[_ ]policy|safety|content_filter|moderation|blocked", re.I)


def classify_status(status: int, message: str = "") -> ErrorKind:
    """Map an HTTP error status (and its message, for 400s) to an ErrorKind."""
    if status == 429:
        return ErrorKind.rate_limited
    if status in (401, 402, 403):  # 402: the account is out of credit; fail over away from it
        return ErrorKind.auth
    if status == 404:
        return ErrorKind.not_found
    if status in (408, 504):
        return ErrorKind.timeout
    if status in (503, 529):
        return ErrorKind.overloaded
    if status >= 500:
        return ErrorKind.server
    if status == 413 or _CONTEXT_HINTS.search(message):
        return ErrorKind.context_length
    if _POLICY_HINTS.search(message):
        return ErrorKind.content_policy
    return ErrorKind.bad_request


def error_from_transport(exc: Exception) -> ProviderError:
    """An httpx (or raw aiohttp) transport failure as a ProviderError."""
    import aiohttp

    # httpx-aiohttp maps every aiohttp connection error (refused, server disconnected) to
    # httpx.ConnectTimeout, so classify by the aiohttp cause when there is one.
    cause = exc if isinstance(exc, aiohttp.ClientError) else exc.__cause__
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return ProviderError(ErrorKind.timeout, f"upstream timed out ({type(cause).__name__})")
    if isinstance(cause, aiohttp.ClientConnectorError):
        return ProviderError(ErrorKind.connect, "could not connect to upstream")
    if isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return ProviderError(ErrorKind.malformed, "upstream closed the connection mid-response")
    if isinstance(cause, aiohttp.ClientConnectionError):
        return ProviderError(ErrorKind.connect, f"transport error ({type(cause).__name__})")
    if isinstance(cause, aiohttp.ClientResponseError):  # e.g. an unparsable status line
        return ProviderError(ErrorKind.malformed, f"malformed response ({type(cause).__name__})")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(ErrorKind.timeout, f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(ErrorKind.connect, "could not connect to upstream")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError(ErrorKind.malformed, "upstream closed the connection mid-response")
    return ProviderError(ErrorKind.connect, f"transport error ({type(exc).__name__})")
