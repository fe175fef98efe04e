"""`axtui keys create|list|revoke`: caller keys for the gateway, kept hashed in the store."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from axtui.cli.output import CliError, emit_json, table

if TYPE_CHECKING:
    from axtui.config import Config

app = typer.Typer(help="Caller keys for `axtui serve` (stored hashed; shown once).",
                  no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="config (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json")


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="who the key is for"),
    routes: str | None = typer.Option(None, "--routes",
                                      help="comma-separated routes it may use (default: all)"),
    rpm: int | None = typer.Option(None, "--rpm", min=1, help="requests per minute"),
    tpm: int | None = typer.Option(None, "--tpm", min=1, help="tokens per minute"),
    budget_day: str | None = typer.Option(None, "--budget-day", help="USD per UTC day"),
    region: str | None = typer.Option(
        None, "--region", help="its requests' region when they name none (a deployments' "
        "region in the config)"),
    region_policy: str | None = typer.Option(
        None, "--region-policy", help="prefer (default): its region first, others after; "
        "require: never served outside it"),
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    json_out: bool = _JSON,
) -> None:
    """Create a key; prints it once (only its hash is stored)."""
    from axtui.config import load_config
    from axtui.gateway.keys import KeyProblem, create_key

    cfg = load_config(config)
    region, policy = _region(cfg, region, region_policy)
    allowed = None
    if routes is not None:
        allowed = [r.strip() for r in routes.split(",") if r.strip()]
        unknown = [r for r in allowed if r not in cfg.routes]
        if unknown or not allowed:
            raise CliError(f"--routes: unknown route(s) {', '.join(unknown) or '(none given)'}; "
                           f"routes: {', '.join(sorted(cfg.routes))}")
    budget = None
    if budget_day is not None:
        try:
            budget = Decimal(budget_day)
        except InvalidOperation:
            raise CliError(f"--budget-day {budget_day!r}: expected an amount in USD") from None
        if not budget.is_finite() or budget < 0:
            raise CliError(f"--budget-day {budget_day!r}: expected an amount >= 0")
    if any(k.name == name for k in cfg.keys):
        raise CliError(f"a key named {name!r} is defined in the config")
    st = _store(store, config)
    try:
        key, entry = create_key(st, name, routes=allowed, rpm=rpm, tpm=tpm,
                                budget_day_usd=budget, region=region, region_policy=policy,
                                by="cli")
    except KeyProblem as e:
        raise CliError(str(e)) from None
    finally:
        st.close()
    if json_out:
        emit_json({"key": key, **entry.describe()})
        return
    where = f" in region {entry.region} ({entry.region_policy})" if entry.region else ""
    typer.echo(f"created key {entry.name} ({entry.id}){where}")
    typer.echo(key)
    typer.echo("Copy it now: it is not stored and will not be shown again. "
               "Clients send it as `Authorization: Bearer <key>`.", err=True)


@app.command("list")
def list_keys(config: Path | None = _CONFIG, store: str | None = _STORE,
              json_out: bool = _JSON) -> None:
    """Keys in the store and the config: names, ids, limits (never a key)."""
    import os

    from axtui.config import load_config
    from axtui.gateway.keys import CallerKey, key_hash, key_id, stored_keys

    cfg = load_config(config)
    st = _store(store, config)
    try:
        keys = sorted(stored_keys(st.control_snapshot()).values(), key=lambda k: k.created_at or 0)
    finally:
        st.close()
    rows = [k.describe() for k in keys]
    for k in cfg.keys:
        value = os.environ.get(k.key_env)
        entry = CallerKey(id=key_id(key_hash(value)) if value else "", name=k.name,
                          routes=frozenset(k.routes) if k.routes is not None else None,
                          rpm=k.rpm, tpm=k.tpm, budget_day_usd=k.budget_day_usd,
                          source="config", region=k.region,
                          region_policy=k.region_policy).describe()
        if not value:
            entry["problem"] = f"environment variable {k.key_env} is not set"
        rows.append(entry)
    if json_out:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no keys: the gateway serves without auth (axtui keys create --name NAME)")
        return
    typer.echo(table([
        (r["name"], r["id"] or "–", r["source"], ",".join(r["routes"]) if r["routes"] else "all",
         r["rpm"] or "–", r["tpm"] or "–",
         f"${r['budget_day_usd']}" if r["budget_day_usd"] is not None else "–",
         _region_cell(r), "revoked" if r["revoked"] else r.get("problem", "live"))
        for r in rows], ["name", "id", "source", "routes", "rpm", "tpm", "budget/day", "region",
                         "status"],
        right={4, 5, 6}))


def _region_cell(row: dict) -> str:
    if not row.get("region"):
        return "–"
    return row["region"] + (" (require)" if row.get("region_policy") == "require" else "")


@app.command("revoke")
def revoke(which: str = typer.Argument(..., metavar="NAME|ID"), config: Path | None = _CONFIG,
           store: str | None = _STORE, json_out: bool = _JSON) -> None:
    """Revoke a stored key, by name or id; every gateway sharing the store refuses it
    within a control poll."""
    from axtui.config import load_config
    from axtui.gateway.keys import KeyProblem, revoke_key

    cfg = load_config(config)
    if any(k.name == which for k in cfg.keys):
        raise CliError(f"key {which!r} is defined in the config: remove it there")
    st = _store(store, config)
    try:
        entry = revoke_key(st, which, by="cli")
    except KeyProblem as e:
        raise CliError(str(e)) from None
    finally:
        st.close()
    if json_out:
        emit_json(entry.describe())
    else:
        typer.echo(f"revoked key {entry.name} ({entry.id})")


def _region(cfg: Config, region: str | None, policy: str | None) -> tuple[str | None, str]:
    """`--region` and `--region-policy` checked: the region one that a deployment of the
    config serves in (lower-cased, as the request header is), the policy prefer or require."""
    if policy is not None and policy not in ("prefer", "require"):
        raise CliError(f"--region-policy {policy!r}: expected prefer or require")
    if region is None:
        if policy is not None:
            raise CliError("--region-policy needs --region")
        return None, "prefer"
    known = sorted({d.region for d in cfg.deployments if d.region})
    name = region.strip().lower()
    if name not in known:
        regions = ", ".join(known) if known else "none (no deployment has a region)"
        raise CliError(f"--region {region!r}: no deployment serves in it; regions: {regions}")
    return name, policy or "prefer"


def _store(url: str | None, config: Path | None):
    from axtui.cli.common import open_cli_store

    return open_cli_store(url, config)
