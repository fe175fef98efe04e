"""What the gateway's routes use, handed to every request in its scope (`scope["axtui"]`, as
Starlette's routes find their app in `scope["app"]`): the runtime host and what it runs
(engine, store, recorder), the caller key ring, the metrics exporter, the request limits,
and the checks a caller goes through (authenticate, the routes it may see, its rate-limit
headers, a refusal's record).

app.py builds one at startup and dispatches; routes import this module, never app.py.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING, Any

from axtui.gateway.asgi import Header, Scope
from axtui.gateway.client_ip import ClientIp
from axtui.gateway.errors import unauthorized
from axtui.gateway.keys import CallerKey, KeyRing
from axtui.providers.base import ChatRequest, RateLimitInfo
from axtui.records import ErrorKind, RequestRecord

if TYPE_CHECKING:
    from axtui.config import Config
    from axtui.engine.engine import Engine, RequestContext
    from axtui.gateway.metrics import MetricsExporter
    from axtui.runtime import RuntimeHost

SCOPE_KEY = "axtui"


def services(scope: Scope) -> Services:
    """The request's services (put in its scope by the gateway)."""
    return scope[SCOPE_KEY]


class Services:
    """One gateway process's services, from startup to shutdown."""

    __slots__ = ("config", "host", "engine", "store", "recorder", "keys", "metrics",
                 "admin_token", "client_ip", "max_body_bytes", "body_timeout_s", "max_json_depth",
                 "rule_headers", "started_at", "ready", "_ids", "_id_prefix", "reload")

    def __init__(self, config: Config, host: RuntimeHost, keys: KeyRing,
                 metrics: MetricsExporter | None, admin_token: bytes | None) -> None:
        self.config = config
        self.host = host
        self.engine: Engine = host.engine
        self.store: Any = host.store
        self.recorder: Any = host.recorder
        self.keys = keys
        self.metrics = metrics
        self.admin_token = admin_token
        self.reload: Any = None  # the gateway's config reload: `await reload(by)`
        g = config.gateway
        self.client_ip = ClientIp(g.trusted_proxies)
        self.max_body_bytes = g.max_body_bytes
        self.body_timeout_s = g.body_timeout_s
        self.max_json_depth = g.max_json_depth
        # header names routing rules look at: only those are copied per request
        self.rule_headers = frozenset(h.lower().encode() for r in config.rules
                                      for h in r.match.header)
        self.started_at = time.monotonic()
        self.ready = True  # false from the start of shutdown
        self._ids = itertools.count(1)
        self._id_prefix = "g" + os.urandom(4).hex()

    def next_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):010x}"

    def created(self) -> int:
        """The unix time this process started serving (a model's `created`)."""
        return int(time.time() - (time.monotonic() - self.started_at))

    # ------------------------------------------------------------------ callers

    def authenticate(self, auth: bytes | None) -> CallerKey | None:
        """The caller's key, None when the gateway runs without keys; 401 otherwise."""
        keys = self.keys
        if not keys.auth_required:
            return None
        if auth is None or not auth.startswith(b"Bearer "):
            raise unauthorized("You didn't provide an API key. Send it as "
                               "`Authorization: Bearer <key>`.")
        key = keys.lookup(auth[7:].strip().decode("latin-1"))
        if key is None:
            raise unauthorized("Incorrect API key provided.")
        if key.revoked:
            raise unauthorized(f"The API key {key.id} has been revoked.")
        return key

    def visible_routes(self, key: CallerKey | None) -> list[str]:
        return sorted(r for r in self.engine.routes if key is None or key.allows(r))

    def no_such_model(self, model: str, key: CallerKey | None) -> str:
        return (f"The model `{model}` does not exist or you do not have access to it; "
                f"routes: {', '.join(self.visible_routes(key))}")

    def ratelimit_headers(self, user: str | None, key: CallerKey | None,
                          ctx: RequestContext | None = None) -> list[Header]:
        """x-ratelimit-* for the caller's tightest request and token windows (engine quotas
        and the key's own limits); none when the caller is unlimited."""
        infos = []
        if self.engine.quotas.enabled:
            infos.append(self.engine.quotas.remaining(
                user, key.id if key else None, ip=ctx.ip if ctx is not None else None))
        if key is not None and (key.rpm or key.tpm):
            own = self.keys.remaining(key)
            if own is not None:
                infos.append(own)
        return _ratelimit_headers(infos) if infos else []

    def reject(self, req: ChatRequest, ctx: RequestContext, kind: ErrorKind,
               message: str) -> RequestRecord:
        """Record a request the gateway refused for its key (allow-list, rpm, budget) through
        the engine, so every record listener (store, trace, live tail) sees it."""
        return self.engine.reject(req, ctx, kind, message, reason="key limits").record


def _ratelimit_headers(infos: list[RateLimitInfo]) -> list[Header]:
    req = [i for i in infos if i.remaining_requests is not None]
    tok = [i for i in infos if i.remaining_tokens is not None]
    h: list[Header] = []
    if req:
        r = min(req, key=lambda i: i.remaining_requests)
        h += [(b"x-ratelimit-limit-requests", str(r.limit_requests).encode()),
              (b"x-ratelimit-remaining-requests", str(r.remaining_requests).encode()),
              (b"x-ratelimit-reset-requests", _duration(r.reset_requests_s or 0.0))]
    if tok:
        t = min(tok, key=lambda i: i.remaining_tokens)
        h += [(b"x-ratelimit-limit-tokens", str(t.limit_tokens).encode()),
              (b"x-ratelimit-remaining-tokens", str(t.remaining_tokens).encode()),
              (b"x-ratelimit-reset-tokens", _duration(t.reset_tokens_s or 0.0))]
    return h


def _duration(s: float) -> bytes:
    """OpenAI's reset format: `120ms`, `1.5s`, `6m0s`."""
    if s < 1:
        return f"{round(s * 1000)}ms".encode()
    m, sec = divmod(s, 60)
    return (f"{int(m)}m{sec:.0f}s" if m else f"{sec:.3g}s").encode()
