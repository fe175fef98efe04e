"""`axtui config reload`: ask a running gateway to re-read its config file, through its
admin API (`POST /admin/config/reload`, the admin token from the environment). The gateway
re-reads the file it was started with; this command's --config only says where it listens
and which variable holds the token. With `--workers N` the answering worker reloads and
answers; to reload every worker, send SIGHUP to the supervisor (`kill -HUP PID`)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json


def reload(
    url: str | None = typer.Option(None, "--url",
                                   help="the gateway, e.g. http://127.0.0.1:4000 (default: "
                                        "the config's gateway.listen)"),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="config naming the listen address and admin "
                                            "token variable (default: the bundled demo)"),
    by: str = typer.Option(os.environ.get("USER") or "cli", "--by",
                           help="who reloads (the audit event names them)"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Re-read a running gateway's config file: applied (0), refused with its problems (1)."""
    import httpx

    listen, env = _gateway_settings(config)
    token = os.environ.get(env)
    if not token:
        raise CliError(f"the admin token is not set: export {env} (the gateway's admin API "
                       "needs it)")
    base = (url or f"http://{_connectable(listen)}").rstrip("/")
    try:
        r = httpx.post(f"{base}/admin/config/reload", json={"by": by},
                       headers={"authorization": f"Bearer {token}"}, timeout=60)
    except httpx.HTTPError as e:
        raise CliError(f"{base}: no gateway answered ({type(e).__name__}: {e})") from None
    if r.status_code not in (200, 422):
        raise CliError(f"{base}: HTTP {r.status_code}: {_message(r)}")
    result = r.json()
    if json_out:
        emit_json(result)
    else:
        _say(result)
    if not result["ok"]:
        raise typer.Exit(1)


def _gateway_settings(config: Path | None) -> tuple[str, str]:
    """The listen address and admin token variable, read from the file's [gateway] alone:
    the file may be the very one being fixed, and the gateway validates it whole."""
    from axtui.config import ConfigError, GatewayConfig, read_toml

    if config is None:
        g = GatewayConfig()
        return g.listen, g.admin_token_env
    try:
        data, source = read_toml(config, ConfigError)
        g = GatewayConfig.model_validate(data.get("gateway") or {})
    except ConfigError as e:
        raise CliError(e.problems[0]) from None
    except ValueError as e:  # pydantic's: [gateway] itself is malformed
        raise CliError(f"{config}: [gateway]: {e}".splitlines()[0]) from None
    return g.listen, g.admin_token_env


def _connectable(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    return f"{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"


def _message(r) -> str:
    try:
        return r.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return r.text[:200]


def _say(result: dict) -> None:
    if not result["ok"]:
        typer.echo(f"refused: {result['source']} (the running config stays)")
        for problem in result["errors"]:
            typer.echo(f"  {problem}")
        return
    typer.echo(f"{'applied' if result['changed'] else 'unchanged'}: {result['source']} "
               f"(process {result['process_id']})")
    diff = result["diff"]
    for part in ("routes", "deployments", "flags"):
        for change in ("added", "removed"):
            if names := diff.get(part, {}).get(change):
                typer.echo(f"  {part} {change}: {', '.join(names)}")
        if changed := diff.get(part, {}).get("changed"):
            for name, fields in changed.items():
                typer.echo(f"  {part} changed: {name} ({', '.join(fields)})")
    for limit in diff.get("limits", {}):
        typer.echo(f"  limits changed: {limit}")
    if diff.get("other"):
        typer.echo(f"  also changed: {', '.join(diff['other'])}")
    for section, why in result["restart_required"].items():
        typer.echo(f"  needs a restart: {section} ({why})")
