"""`axtui route "prompt"`: send one request through the engine and show what happened."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json, ms, usd


def route(
    prompt: str = typer.Argument(..., help="the user message"),
    route_name: str = typer.Option("chat", "--route", "-r", help="route (public model name)"),
    stream: bool = typer.Option(False, "--stream", help="stream the answer"),
    system: str | None = typer.Option(None, "--system", help="a system prompt"),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1),
    user: str | None = typer.Option(None, "--user", help="caller user id (quotas, rules)"),
    tag: list[str] = typer.Option([], "--tag", help="request tag (rules); repeatable"),
    config: Path | None = typer.Option(None, "--config", "-c"),
    store: str | None = typer.Option(None, "--store", help="store URL to record into"),
    no_record: bool = typer.Option(False, "--no-record",
                                   help="do not write to the store (its drains and flags "
                                        "still apply)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Route one chat request; exit 1 if it could not be served."""
    from axtui.config import load_config
    from axtui.engine.engine import RequestContext, RoutingError
    from axtui.providers.base import ChatRequest
    from axtui.runtime import RuntimeHost

    cfg = load_config(config)
    if route_name not in cfg.routes:
        raise CliError(f"unknown route {route_name!r}; routes: {', '.join(sorted(cfg.routes))}")
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    req = ChatRequest(messages=messages, model=route_name, max_tokens=max_tokens,
                      stream=stream, user=user, tags=list(tag))
    ctx = RequestContext(user=user, tags=list(tag))
    # the host reads the store's control plane, so drains and killed flags apply here too;
    # --no-record only reads it
    host = RuntimeHost(cfg, face="route", store_url=store, read_only=no_record,
                       recorder="thread")

    async def go():
        try:
            await host.start()
        except Exception as e:  # a bad URL or an unwritable file: say which, exit 2
            raise CliError(f"cannot open store {host.store_url!r}: {type(e).__name__}: {e}"
                           ) from None
        engine = host.engine
        text = []
        try:
            if stream:
                s = engine.stream(req, ctx)
                await s.start()
                async for chunk in s:
                    if chunk.content:
                        text.append(chunk.content)
                        if not json_out:
                            sys.stdout.write(chunk.content)
                            sys.stdout.flush()
                if not json_out:
                    sys.stdout.write("\n")
                return s.record, "".join(text), None
            result = await engine.complete(req, ctx)
            return result.record, result.response.content or "", result.response.tool_calls
        finally:
            await host.stop()  # the record is written before this returns

    try:
        record, text, tool_calls = asyncio.run(go())
    except RoutingError as e:
        record, text, tool_calls = e.record, None, None
    if json_out:
        emit_json({"content": text, "tool_calls": tool_calls,
                   "record": record.model_dump(mode="json")})
    else:
        if text is not None and not stream:
            typer.echo(text)
        if tool_calls:
            typer.echo(f"tool calls: {tool_calls}")
        trail = " → ".join(
            f"{a.deployment} {'ok' if a.error_kind is None else a.error_kind.value}"
            for a in record.attempts) or "no attempt"
        typer.echo(f"[{record.route}] {trail} · {ms(record.latency_ms)} · "
                   f"{usd(record.cost_nano, 6)} · {record.reason}", err=True)
        if record.error:
            typer.echo(f"error ({record.status}): {record.error}", err=True)
    if record.outcome.value != "ok":
        raise typer.Exit(1)
