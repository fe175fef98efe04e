"""`axtui providers list|info|validate`: deployments with capabilities, prices, and health
from the store (attempts, success, latency, last breaker state)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.output import CliError, emit_json, ms, pct, table, usd

app = typer.Typer(help="Deployments: capabilities, prices, health; probe for drift.",
                  no_args_is_help=True)


def _window(store, since_min: float) -> tuple[float, float]:
    """The `since_min` minutes before the newest record (or now, if there are none), so a
    store written by a replay or a demo in virtual time still shows its health."""
    newest = store.recent_records(limit=1)
    anchor = max(time.time(), newest[0].ended_at) if newest else time.time()
    return anchor - since_min * 60.0, anchor


def _breaker_states(store, since: float, now: float) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for ev in store.events(kind="breaker", since_ts=since, limit=10_000):
        state, until = ev.detail.get("to"), ev.detail.get("until")
        if state == "open" and until is not None and until <= now:
            state = "half_open"  # its open time ran out after the last recorded transition
        out.setdefault(ev.subject, {"state": state, "at": ev.ts, "until": until,
                                    "reason": ev.detail.get("reason")})  # newest first
    return out


def _rows(cfg, store, since_min: float):
    from axtui.engine.catalog import Catalog

    cat = Catalog(cfg)
    since, until = _window(store, since_min)
    health = store.deployment_health(since, until)
    breakers = _breaker_states(store, since, until)
    rows = []
    for s in cat:
        h = health.get(s.id)
        b = breakers.get(s.id)
        pin, pout = s.usd_per_mtok()
        rows.append({
            "deployment": s.id, "provider": s.provider, "protocol": s.protocol,
            "model": s.model, "capabilities": sorted(s.capabilities),
            "context_window": s.context_window, "category": s.category,
            "free_tier": s.free_tier, "usd_per_mtok": {"input": str(pin), "output": str(pout)},
            "price_source": s.price_source,
            "health": h.model_dump() if h else None,
            "breaker": b,
        })
    return rows, since, until


@app.command("list")
def list_(
    config: Path | None = typer.Option(None, "--config", "-c"),
    store: str | None = typer.Option(None, "--store"),
    since: float = typer.Option(60.0, "--since", min=1, help="minutes of health to show"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Every deployment: capabilities, price, and health over the last --since minutes."""
    from axtui.config import load_config

    cfg = load_config(config)
    st = open_cli_store(store, config)
    rows, t0, t1 = _rows(cfg, st, since)
    if json_out:
        emit_json({"since": t0, "until": t1, "deployments": rows})
        return
    out = []
    for r in rows:
        h, b = r["health"], r["breaker"]
        state = (b["state"] if b and b.get("state") and b["state"] != "closed" else "ok")
        if h is None:
            state = "idle"
        p = r["usd_per_mtok"]
        out.append((
            r["deployment"], state, ",".join(r["capabilities"]), f"{r['context_window']:,}",
            f"${p['input']}/${p['output']}" + ("" if r["price_source"] != "unknown" else "?"),
            "free" if r["free_tier"] else "",
            h["attempts"] if h else 0, pct(1 - h["error_rate"]) if h else "–",
            ms(h["p50_ms"]) if h else "–", ms(h["p95_ms"]) if h else "–",
            usd(h["cost_nano"], 4) if h else "–",
        ))
    typer.echo(table(out, ["deployment", "state", "capabilities", "context", "$/Mtok in/out",
                           "tier", "attempts", "ok", "p50", "p95", "spent"],
                     right={3, 6, 7, 8, 9, 10}))
    typer.echo(f"\nhealth from {st.url} over {since:g} min to "
               f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t1))}")


@app.command("info")
def info(
    name: str = typer.Argument(..., help="a deployment (provider/model) or a provider name"),
    config: Path | None = typer.Option(None, "--config", "-c"),
    store: str | None = typer.Option(None, "--store"),
    since: float = typer.Option(60.0, "--since", min=1, help="minutes of health to show"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """One deployment (or all of one provider's): spec, health, errors and breaker history."""
    from axtui.config import load_config

    cfg = load_config(config)
    st = open_cli_store(store, config)
    rows, t0, t1 = _rows(cfg, st, since)
    chosen = [r for r in rows if r["deployment"] == name or r["provider"] == name]
    if not chosen:
        known = ", ".join(sorted({r["provider"] for r in rows} | {r["deployment"] for r in rows}))
        raise CliError(f"unknown provider or deployment {name!r}; known: {known}")
    for r in chosen:
        r["events"] = [e.model_dump() for e in st.events(subject=r["deployment"], limit=20)]
        pcfg = cfg.providers[r["provider"]]
        r["base_url"] = pcfg.resolved_base_url()
        r["api_key_env"] = pcfg.api_key_env
    if json_out:
        emit_json({"since": t0, "until": t1, "deployments": chosen})
        return
    for r in chosen:
        p = r["usd_per_mtok"]
        typer.echo(f"{r['deployment']}  ({r['protocol']} at {r['base_url']}"
                   + (f", key from ${r['api_key_env']}" if r["api_key_env"] else "") + ")")
        typer.echo(f"  capabilities  {', '.join(r['capabilities'])}")
        typer.echo(f"  context       {r['context_window']:,} tokens · category {r['category']}"
                   + (" · free tier" if r["free_tier"] else ""))
        typer.echo(f"  price         ${p['input']} in / ${p['output']} out per Mtok "
                   f"({r['price_source']})")
        h = r["health"]
        if h:
            errs = ", ".join(f"{k} {v}" for k, v in sorted(h["errors_by_kind"].items())) or "none"
            typer.echo(f"  last {since:g} min  {h['attempts']} attempts, ok "
                       f"{pct(1 - h['error_rate'])}, p50 {ms(h['p50_ms'])}, p95 "
                       f"{ms(h['p95_ms'])}, spent {usd(h['cost_nano'], 4)}")
            typer.echo(f"  errors        {errs}")
        else:
            typer.echo(f"  last {since:g} min  no attempts")
        for e in r["events"][:10]:
            when = time.strftime("%H:%M:%S", time.localtime(e["ts"]))
            typer.echo(f"  {when} {e['kind']}: " + ", ".join(
                f"{k}={v}" for k, v in e["detail"].items()))
        typer.echo("")


from axtui.cli import validate  # noqa: E402 - the probe command lives in its own module

app.command("validate")(validate.validate)
