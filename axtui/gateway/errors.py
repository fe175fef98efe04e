"""Errors as OpenAI sends them: `{"error": {"message", "type", "code", "param"}}` with the
status its SDKs map to typed exceptions (400 BadRequestError, 401 AuthenticationError,
404 NotFoundError, 429 RateLimitError, 5xx InternalServerError).

Status decisions (see README, "Gateway"):
- a route the key may not use is the same 404 as an unknown one (routes are not exposed);
- quotas and all-upstreams-rate-limited are 429 with `retry-after`;
- a spent budget is 429 `insufficient_quota` (OpenAI's own billing-limit answer) with
  `retry-after` until it resets and `x-should-retry: false`, so SDKs do not hammer it.
"""

from __future__ import annotations

import math

import orjson

from axtui.records import ErrorKind

# kind → (OpenAI error type, code)
_KIND: dict[ErrorKind, tuple[str, str]] = {
    ErrorKind.no_route: ("invalid_request_error", "model_not_found"),
    ErrorKind.quota: ("rate_limit_error", "rate_limit_exceeded"),
    ErrorKind.budget: ("insufficient_quota", "budget_exceeded"),
    ErrorKind.rate_limited: ("rate_limit_error", "upstream_rate_limited"),
    ErrorKind.bad_request: ("invalid_request_error", "upstream_bad_request"),
    ErrorKind.context_length: ("invalid_request_error", "context_length_exceeded"),
    ErrorKind.content_policy: ("invalid_request_error", "content_policy_violation"),
    ErrorKind.unsupported: ("invalid_request_error", "unsupported_request"),
    ErrorKind.overloaded: ("server_error", "upstream_overloaded"),
    ErrorKind.no_candidates: ("server_error", "no_deployment_available"),
    ErrorKind.timeout: ("server_error", "upstream_timeout"),
    ErrorKind.deadline: ("server_error", "deadline_exceeded"),
    ErrorKind.interrupted: ("server_error", "stream_interrupted"),
    ErrorKind.cancelled: ("server_error", "cancelled"),
}


class ApiError(Exception):
    """An answer that is an error: status, OpenAI error body, and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after_s: float | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = list(headers or [])
        if retry_after_s is not None:
            self.headers.append((b"retry-after", str(max(1, math.ceil(retry_after_s))).encode()))
            self.headers.append((b"retry-after-ms", str(max(0, round(retry_after_s * 1000)))
                                 .encode()))

    def body(self) -> bytes:
        return orjson.dumps({"error": self.payload()})

    def payload(self) -> dict:
        return {"message": self.message, "type": self.type, "param": self.param,
                "code": self.code}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def for_kind(
    kind: ErrorKind, status: int, message: str, retry_after_s: float | None = None
) -> ApiError:
    """An engine (or key) verdict as an API error; `status` is the engine's."""
    etype, code = _KIND.get(kind, ("server_error", "upstream_error"))
    headers = []
    if kind is ErrorKind.budget:
        headers.append((b"x-should-retry", b"false"))
    return ApiError(status, message, type=etype, code=code,
                    param="model" if kind is ErrorKind.no_route else None,
                    retry_after_s=retry_after_s, headers=headers)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, code="invalid_api_key",
                    headers=[(b"www-authenticate", b'Bearer realm="axtui"')])
