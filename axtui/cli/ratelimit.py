"""`axtui ratelimit status|reset`: where a caller's quotas stand, and forgetting its counts.

Where the counters live decides where these go. With `[redis]` configured they are the
fleet's shared counters, read and reset in Redis directly (no gateway needed). Without it
they live inside the serving gateway process alone, so these ask its admin API
(`/admin/ratelimit`, token from `gateway.admin_token_env`) at `--url` (default: the
config's `gateway.listen`)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import typer

from axtui.cli.output import CliError, emit_json, table

app = typer.Typer(help="Caller quotas (user, key, ip, route, global): status and reset.",
                  no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="config file (default: the bundled demo)")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_URL = typer.Option(None, "--url", help="the gateway (default: http://<gateway.listen>); "
                    "used only without [redis]")
_USER = typer.Option(None, "--user", help="a user id")
_KEY = typer.Option(None, "--key", help="a caller key id")
_IP = typer.Option(None, "--ip", help="a client IP address")
_ROUTE = typer.Option(None, "--route", help="a route's own quota")
_GLOBAL = typer.Option(False, "--global", help="the quota over every request")

_CONFIG_NAME = {"user": "per_user", "key": "per_key", "ip": "per_ip", "global": "global",
                "route": "per_route.NAME"}


def _selector(cfg, user, key, ip, route, glob, *, required: bool) -> tuple[str, str] | None:
    from axtui.engine.limits import GLOBAL

    given = [(s, w) for s, w in (("user", user), ("key", key), ("ip", ip), ("route", route))
             if w is not None]
    if glob:
        given.append(("global", GLOBAL))
    if len(given) > 1:
        raise CliError("choose one of --user, --key, --ip, --route, --global")
    if not given:
        if required:
            raise CliError("say whose quota: --user U, --key K, --ip A, --route R or --global")
        return None
    scope, who = given[0]
    if scope == "ip":
        try:
            who = str(ipaddress.ip_address(who.strip()))
        except ValueError:
            raise CliError(f"--ip {who!r}: not an IP address") from None
    if scope == "route" and who not in cfg.routes:
        raise CliError(f"unknown route {who!r}; routes: {', '.join(cfg.routes)}")
    return scope, who


def _whole(cfg) -> list[tuple[str, str]]:
    """No selector: the quotas that are one count each (global, every route's)."""
    from axtui.engine.limits import GLOBAL, CallerQuotas

    quotas = CallerQuotas.from_config(_clock(), cfg.quotas)
    out = [("global", GLOBAL)] if quotas.limits_of("global", GLOBAL) else []
    return out + [("route", r) for r in sorted(quotas.per_route)]


def _clock():
    from axtui.clock import RealClock

    return RealClock()


# ------------------------------------------------------------------ where the counters live


def _shared(cfg, url: str):
    """SharedQuotas over the fleet's Redis, for one command."""
    from axtui.engine.limits import CallerQuotas
    from axtui.fleet.link import RedisLink
    from axtui.fleet.quotas import SharedQuotas

    r = cfg.redis
    link = RedisLink(url, prefix=r.prefix, timeout_s=max(r.timeout_s, 1.0),
                     max_backoff_s=r.max_backoff_s)
    clock = _clock()
    return link, SharedQuotas(link, clock, CallerQuotas.from_config(clock, cfg.quotas), "cli")


def _via_redis(cfg, url: str, op: str, wanted: list[tuple[str, str]], by: str) -> dict:
    from axtui.fleet.link import Unavailable

    link, quotas = _shared(cfg, url)
    try:
        for scope, who in wanted:
            if quotas.local.limits_of(scope, who) is None:
                raise CliError(f"no {scope} quota applies to {who!r} (configure "
                               f"[quotas.{_CONFIG_NAME[scope]}])")
        if op == "status":
            return {"source": "redis", "quotas": [quotas.status(s, w) for s, w in wanted]}
        (scope, who), = wanted
        counted = quotas.reset(scope, who)
        return {"scope": scope, "who": who, "reset": True, "was_counted": counted,
                "by": by, "source": "redis"}
    except Unavailable as e:
        raise CliError(f"redis at {link.shown_url} did not answer: {e}", code=1) from None
    finally:
        link.client.close()


def _via_gateway(cfg, base: str | None, op: str, sel: tuple[str, str] | None, by: str) -> dict:
    import httpx

    env = cfg.gateway.admin_token_env
    token = os.environ.get(env)
    if not token:
        raise CliError(f"without [redis] the quotas live in the gateway process: set {env} "
                       "to its admin token so this can ask it")
    base = (base or f"http://{cfg.gateway.listen}").rstrip("/")
    headers = {"authorization": f"Bearer {token}"}
    try:
        if op == "status":
            params = {"scope": sel[0], "who": sel[1]} if sel else {}
            r = httpx.get(f"{base}/admin/ratelimit", params=params, headers=headers,
                          timeout=10)
        else:
            r = httpx.post(f"{base}/admin/ratelimit/reset", headers=headers, timeout=10,
                           json={"scope": sel[0], "who": sel[1], "by": by})
    except httpx.HTTPError as e:
        raise CliError(f"no gateway answered at {base} ({type(e).__name__}); without "
                       "[redis] the quotas live in the serving gateway", code=1) from None
    if r.status_code != 200:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:200]
        raise CliError(f"gateway said {r.status_code}: {message}",
                       code=2 if r.status_code < 500 else 1)
    return r.json()


def _run(config: Path | None, url: str | None, op: str, sel: tuple[str, str] | None,
         by: str) -> dict:
    from axtui.config import load_config

    cfg = load_config(config)
    redis_url = cfg.redis.resolved_url()
    if redis_url:
        wanted = [sel] if sel else _whole(cfg)
        return _via_redis(cfg, redis_url, op, wanted, by)
    return _via_gateway(cfg, url, op, sel, by)


# ------------------------------------------------------------------ commands


@app.command("status")
def status(user: str | None = _USER, key: str | None = _KEY, ip: str | None = _IP,
           route: str | None = _ROUTE, glob: bool = _GLOBAL, config: Path | None = _CONFIG,
           url: str | None = _URL, json_out: bool = _JSON) -> None:
    """One caller's quotas (no selector: the global and every route's quota)."""
    from axtui.config import load_config

    sel = _selector(load_config(config), user, key, ip, route, glob, required=False)
    out = _run(config, url, "status", sel, "")
    if json_out:
        emit_json(out)
        return
    rows = [_row(q) for q in out["quotas"]]
    if not rows:
        typer.echo("no global or route quotas configured; name a caller (--user, --key, --ip)")
        return
    typer.echo(table(rows, ["scope", "who", "requests/min", "tokens/min", "spent today"]))
    typer.echo(f"(counters: {out['source']})")


@app.command("reset")
def reset(user: str | None = _USER, key: str | None = _KEY, ip: str | None = _IP,
          route: str | None = _ROUTE, glob: bool = _GLOBAL, config: Path | None = _CONFIG,
          url: str | None = _URL,
          by: str = typer.Option(os.environ.get("USER", "cli"), "--by", help="who (audited)"),
          json_out: bool = _JSON) -> None:
    """Forget one caller's counts: its windows are full again and nothing is spent today."""
    from axtui.config import load_config

    sel = _selector(load_config(config), user, key, ip, route, glob, required=True)
    out = _run(config, url, "reset", sel, by)
    if json_out:
        emit_json(out)
        return
    was = "" if out["was_counted"] else " (nothing was counted)"
    typer.echo(f"reset the {out['scope']} quota of {out['who']}{was} [{out['source']}]")


def _row(q: dict[str, Any]) -> list[str]:
    def window(w: dict | None) -> str:
        if w is None:
            return "-"
        return f"{w['remaining']}/{w['limit']} left" + (
            f", full in {w['reset_s']:.0f}s" if w["reset_s"] else "")

    spend = q["spend_day"]
    return [q["scope"], q["who"], window(q["rpm"]), window(q["tpm"]),
            "-" if spend is None else f"${spend['spent_usd']} of ${spend['limit_usd']}"]
