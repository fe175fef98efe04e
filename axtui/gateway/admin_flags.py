"""Flag operations on the admin API. Every change goes through `axtui.flags.ops.change`
(the same guardrails as the CLI and the console), then this process applies the control
plane before answering; other gateways sharing the store follow within one poll.

    GET  /admin/flags                       every flag: state, this process's env override;
                                            requests bucketed per request, flag problems
    POST /admin/flags                       {"name", "definition": {...}, "by", "reason",
                                            "force"}: define a flag
    GET  /admin/flags/{name}                one flag
    POST /admin/flags/{name}/rollout        {"pct", "by", "reason", "force"}
    POST /admin/flags/{name}/advance        {"by", "reason", "force"}: the next ladder step
    POST /admin/flags/{name}/kill           {"reason", "by"}: 0% at once; reason required
    POST /admin/flags/{name}/revive|enable|disable   {"by", "reason"}
    GET  /admin/flags/{name}/report         the go/no-go report (?since_min= for a window)
    GET  /admin/flags/{name}/history        the flag's audit events, newest first
    GET  /admin/flags/{name}/schedule       the earliest time of each remaining ladder step

Errors: 404 unknown flag, 400 bad input (bad percentage, missing reason, an increase on a
killed flag), 422 refused by a guardrail (with `violations` and the gates' numbers), 409 a
concurrent change won (nothing written; re-read and retry).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError

from axtui.config import FlagConfig
from axtui.flags import ops
from axtui.flags.gates import evaluate_gates
from axtui.flags.guardrails import schedule as ladder_schedule
from axtui.gateway.admin_input import by_whom as _by
from axtui.gateway.admin_input import json_body as _body
from axtui.gateway.asgi import Receive, Scope, Send, respond_json
from axtui.gateway.errors import ApiError, bad_request
from axtui.gateway.services import Services

_STATUS = {ops.UnknownFlag: (404, "flag_not_found"), ops.FlagKilled: (400, "flag_killed"),
           ops.InvalidChange: (400, "invalid_change"), ops.Refused: (422, "guardrail_refused"),
           ops.FlagConflict: (409, "conflict")}


class FlagApiError(ApiError):
    """An ApiError that carries a refusal's violations and verdict in its body."""

    def __init__(self, e: ops.FlagError) -> None:
        status, code = next((v for k, v in _STATUS.items() if isinstance(e, k)),
                            (400, "flag_error"))
        super().__init__(status, e.message, code=code)
        self.extra: dict[str, Any] = {}
        if isinstance(e, ops.Refused):
            self.extra["violations"] = [v.model_dump() for v in e.violations]
            self.extra["verdict"] = e.verdict.model_dump() if e.verdict else None

    def payload(self) -> dict:
        return {**super().payload(), **self.extra}


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    v = body.get(key)
    if v is not None and not isinstance(v, str):
        raise bad_request(f"{key}: expected a string", key)
    return v


def _view(gw: Services, state) -> dict[str, Any]:
    ov = gw.engine.flag_overrides.get(state.name)
    applied = gw.engine.flags.flags.get(state.name)
    return {**state.model_dump(mode="json"), "effective_pct": state.effective_pct,
            "next_step": state.next_step(), "env_override": ov.label if ov else None,
            "applied_pct": applied.pct_tenths / 10 if applied else None}


async def _call(gw: Services, fn, *args, **kw):
    try:
        return await asyncio.to_thread(fn, *args, **kw)
    except ops.FlagError as e:
        raise FlagApiError(e) from None


async def _seeded(gw: Services) -> None:
    await _call(gw, ops.seed, gw.store, gw.config)


async def list_flags(gw: Services, scope: Scope, receive: Receive, send: Send,
                     m: re.Match) -> None:
    await _seeded(gw)
    flags = await asyncio.to_thread(ops.list_flags, gw.store)
    eng = gw.engine
    await respond_json(send, {"object": "list", "data": [_view(gw, f) for f in flags],
                              "engine": {**eng.flag_counts, "problems": list(eng.flags.problems)}})


async def show(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    await _seeded(gw)
    state, version = await _call(gw, ops.get_flag, gw.store, m["name"])
    await respond_json(send, {**_view(gw, state), "version": version})


async def create(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    body = await _body(scope, receive)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("name: a flag needs a name", "name")
    try:
        definition = FlagConfig.model_validate(body.get("definition") or {})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise bad_request(f"definition.{where}: {err['msg'].removeprefix('Value error, ')}",
                          "definition") from None
    await _call(gw, ops.check_definition, gw.config, name, definition)
    await _change(gw, send, name, body, action="create", definition=definition)


async def _change(gw: Services, send: Send, name: str, body: dict[str, Any], **kw) -> None:
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise bad_request("force: expected true or false", "force")
    await _seeded(gw)
    try:  # written to the store, then applied here before answering
        result = await gw.host.change_flag(name, by=_by(body), reason=_opt_str(body, "reason"),
                                           force=force, **kw)
    except ops.FlagError as e:
        raise FlagApiError(e) from None
    out = result.model_dump(mode="json")
    out["state"] = _view(gw, result.state)
    await respond_json(send, out)


def _action(action: str):
    async def handler(gw: Services, scope: Scope, receive: Receive, send: Send,
                      m: re.Match) -> None:
        body = await _body(scope, receive)
        kw: dict[str, Any] = {}
        if action == "rollout":
            pct = body.get("pct")
            if isinstance(pct, bool) or not isinstance(pct, int | float):
                raise bad_request("pct: expected a number from 0 to 100", "pct")
            kw["pct"] = float(pct)
        await _change(gw, send, m["name"], body, action=action, **kw)

    return handler


async def report(gw: Services, scope: Scope, receive: Receive, send: Send, m: re.Match) -> None:
    q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    since_min = q.get("since_min", [None])[0]
    try:
        window = None if since_min is None else float(since_min) * 60
    except ValueError:
        raise bad_request("since_min: expected a number of minutes", "since_min") from None
    await _seeded(gw)
    state, _ = await _call(gw, ops.get_flag, gw.store, m["name"])
    now = gw.store.clock.now()
    r = await asyncio.to_thread(evaluate_gates, gw.store, state, now,
                                since=None if window is None else now - window)
    await respond_json(send, r.model_dump(mode="json"))


async def history(gw: Services, scope: Scope, receive: Receive, send: Send,
                  m: re.Match) -> None:
    await _seeded(gw)
    await _call(gw, ops.get_flag, gw.store, m["name"])
    found = await asyncio.to_thread(gw.store.events, kind="flag", subject=m["name"], limit=1000)
    await respond_json(send, {"object": "list", "data": [e.model_dump() for e in found]})


async def schedule(gw: Services, scope: Scope, receive: Receive, send: Send,
                   m: re.Match) -> None:
    await _seeded(gw)
    state, _ = await _call(gw, ops.get_flag, gw.store, m["name"])
    steps = ladder_schedule(state, gw.store.clock.now())
    await respond_json(send, {"flag": state.name, "pct": state.pct,
                              "steps": [s.model_dump() for s in steps]})


_NAME = r"/flags/(?P<name>[^/]+)"
FLAG_ROUTES = [
    ("GET", re.compile(r"/flags"), list_flags),
    ("POST", re.compile(r"/flags"), create),
    ("GET", re.compile(_NAME), show),
    *[("POST", re.compile(_NAME + "/" + a), _action(a))
      for a in ("rollout", "advance", "kill", "revive", "enable", "disable")],
    ("GET", re.compile(_NAME + "/report"), report),
    ("GET", re.compile(_NAME + "/history"), history),
    ("GET", re.compile(_NAME + "/schedule"), schedule),
]
