"""`axtui config check FILE`: validate a config and explain what it sets up."""

from __future__ import annotations

from pathlib import Path

import typer

from axtui.cli.output import emit_json, table, usd

app = typer.Typer(help="Validate and explain configuration.", no_args_is_help=True)


@app.command("check")
def check(
    file: Path = typer.Argument(..., help="axtui.toml to validate"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Validate FILE; on success explain the providers, deployments and routes it defines."""
    from axtui.config import load_config
    from axtui.engine.catalog import Catalog

    cfg = load_config(file)  # ConfigError → one line per problem, exit 2
    cat = Catalog(cfg)
    if json_out:
        emit_json({
            "ok": True,
            "file": str(file),
            "providers": {n: {"protocol": p.protocol, "base_url": p.resolved_base_url(),
                              "api_key_env": p.api_key_env} for n, p in cfg.providers.items()},
            "deployments": [_spec_json(s) for s in cat],
            "routes": {n: {"strategy": r.strategy, "candidates": r.candidates,
                           "fallbacks": r.fallbacks, "context_fallback": r.context_fallback,
                           "max_attempts": r.max_attempts, "deadline_s": r.deadline_s}
                       for n, r in cfg.routes.items()},
            "alerts": [{"name": a.name, "condition": a.condition(), "severity": a.severity}
                       for a in cfg.alerts],
            "webhooks": [_webhook_json(w) for w in cfg.alerting.webhooks],
        })
        return
    typer.echo(f"{file}: ok — {len(cfg.providers)} providers, {len(cat)} deployments, "
               f"{len(cfg.routes)} routes, {len(cfg.rules)} rules, {len(cfg.budgets)} budgets, "
               f"{len(cfg.alerts)} alert rules")
    import os

    for name, p in cfg.providers.items():
        key = ""
        if p.api_key_env:
            key = f"key from ${p.api_key_env}" + ("" if os.environ.get(p.api_key_env)
                                                   else " (NOT SET)")
        typer.echo(f"  provider {name}: {p.protocol} {p.resolved_base_url()} {key}".rstrip())
    rows = [(s.id, ",".join(sorted(s.capabilities)), f"{s.context_window:,}", s.category,
             "yes" if s.free_tier else "", f"{usd(s.price_in, 3)} / {usd(s.price_out, 3)}",
             s.price_source) for s in cat]
    typer.echo("")
    typer.echo(table(rows, ["deployment", "capabilities", "context", "category", "free",
                            "$/Mtok in/out", "price from"], right={2}))
    typer.echo("")
    for name, r in cfg.routes.items():
        extra = ""
        if r.fallbacks:
            extra += f", falls back to {', '.join(r.fallbacks)}"
        if r.context_fallback:
            extra += f", long prompts to {r.context_fallback}"
        typer.echo(f"  route {name}: {r.strategy} over {len(r.candidates)} deployments, "
                   f"≤{r.max_attempts} attempts in {r.deadline_s:g}s{extra}")


    for a in cfg.alerts:
        typer.echo(f"  alert {a.name}: {a.condition()} ({a.severity})")
    for w in cfg.alerting.webhooks:
        hook = _webhook_json(w)
        typer.echo(f"  webhook {w.name}: {hook['url']} ({w.format}, {w.min_severity} and up)")


def _webhook_json(w) -> dict:
    """Where a webhook goes, never its whole URL (its path often is the secret)."""
    import os

    from axtui.alerts.notifiers import redact_url

    url = w.url or os.environ.get(w.url_env or "")
    shown = redact_url(url) if url else f"${w.url_env} (NOT SET)"
    return {"name": w.name, "url": shown, "url_env": w.url_env, "format": w.format}


def _spec_json(s) -> dict:
    pin, pout = s.usd_per_mtok()
    return {"deployment": s.id, "provider": s.provider, "model": s.model,
            "capabilities": sorted(s.capabilities), "context_window": s.context_window,
            "category": s.category, "free_tier": s.free_tier,
            "usd_per_mtok": {"input": str(pin), "output": str(pout)},
            "price_source": s.price_source}


from axtui.cli.config_reload import reload as _reload  # noqa: E402

app.command("reload")(_reload)
