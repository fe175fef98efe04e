"""The sim's control endpoint, under /_sim/ (JSON in and out; errors in OpenAI's shape):

    GET    /_sim/state                  scenario, clock, upstreams and their paths, faults
    GET    /_sim/stats                  calls per upstream: total, by outcome, per second
    POST   /_sim/faults                 add a fault now: {"upstream", "kind", ..., "for_s"}
    DELETE /_sim/faults[?upstream=U][&scenario=1]   clear live faults (and the scenario's)
    DELETE /_sim/faults/<id>            clear one live fault
    POST   /_sim/restart                scenario clock to 0, stats and live faults cleared;
                                        optional {"seed": N}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from axtui.sim.state import ControlError, SimState

Answer = tuple[int, Any]


def error_json(message: str, code: str, type: str = "invalid_request_error") -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": None,
                                   "code": code}})


def _error(status: int, message: str, code: str) -> Answer:
    return status, orjson.loads(error_json(message, code))


def _json(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ControlError(f"body is not valid JSON: {e}") from None


def handle(state: SimState, method: str, path: str, query_string: bytes, raw: bytes,
           base_paths: dict[str, str]) -> Answer:
    """One control request: (status, JSON payload)."""
    query = dict(parse_qsl(query_string.decode("latin-1")))
    route = path.removeprefix("/_sim").rstrip("/")
    try:
        if route == "/state" and method == "GET":
            return 200, state.state_json(base_paths)
        if route == "/stats" and method == "GET":
            return 200, state.stats_json()
        if route == "/faults" and method == "POST":
            live = state.add_fault(_json(raw))
            return 201, {"id": live.id, "key": f"l{live.id}", **live.fault.as_json()}
        if route == "/faults" and method == "DELETE":
            scenario = query.get("scenario", "0") not in ("0", "false", "")
            return 200, {"cleared": state.clear_faults(upstream=query.get("upstream"),
                                                       scenario=scenario)}
        if route.startswith("/faults/") and method == "DELETE":
            ident = route.removeprefix("/faults/")
            if not ident.isdigit():
                raise ControlError(f"fault id {ident!r}: expected a number")
            return 200, {"cleared": state.clear_faults(fault_id=int(ident))}
        if route == "/restart" and method == "POST":
            body = _json(raw)
            seed = body.get("seed") if isinstance(body, dict) else None
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise ControlError(f"seed: expected an integer, not {seed!r}")
            state.restart(seed)
            return 200, state.state_json(base_paths)
    except ControlError as e:
        return _error(400, str(e), "invalid_control_request")
    known = ("GET /_sim/state, GET /_sim/stats, POST /_sim/faults, DELETE /_sim/faults[/<id>], "
             "POST /_sim/restart")
    return _error(404, f"no control route {method} {path} (routes: {known})", "not_found")
