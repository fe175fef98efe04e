"""`axtui costs summary|breakdown|projection|optimal|budget`: where the money goes, where
it is heading, what it could have cost. Amounts print exactly (every nano-dollar that is
there), and every table's lines add up to its total line."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json, table

app = typer.Typer(help="Spend by provider, model, route, user and key; projections, savings "
                       "and budgets.", no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="config file (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_AT = typer.Option(None, "--at", help="ask as of this time: epoch seconds or ISO 8601 "
                                      "(default: now, or the newest record if later)")
_RANGE = typer.Option("day", "--range", "-r", help="day, week, month (so far, UTC) or a span "
                                                   "such as 24h, 7d")


def _open(config: Path | None, store: str | None):
    """The config and the store, with spend by user, key and complexity folded up to now
    (only rows new since the last fold; a store we cannot write is read raw, slower)."""
    from sqlalchemy.exc import SQLAlchemyError

    from axtui.cli.common import open_cli_store
    from axtui.config import load_config
    from axtui.costs.folded import fold

    cfg, st = load_config(config), open_cli_store(store, config, existing=True)
    try:
        fold(st)
    except SQLAlchemyError as e:
        typer.echo(f"warning: could not fold spend by user/key/complexity ({type(e).__name__});"
                   " reading raw rows", err=True)
    return cfg, st


def _at(text: str | None, st) -> float:
    if text is None:
        newest = st.recent_records(limit=1)
        return max(time.time(), newest[0].started_at) if newest else time.time()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--at {text!r} is not epoch seconds or an ISO 8601 time") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _window(text: str, at: float):
    from axtui.costs import window

    try:
        return window(text, at)
    except ValueError as e:
        raise CliError(str(e)) from None


def _places(amounts: list[int]) -> int:
    """The fewest decimal places (2 to 9) that print every amount exactly."""
    places = 2
    for n in amounts:
        while places < 9 and n % 10 ** (9 - places):
            places += 1
    return places


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(w) -> str:
    return f"{_when(w.since)} → {_when(w.until)}"


def _breakdown_table(b) -> str:
    from axtui.units import pct, usd

    p = _places([ln.cost_nano for ln in b.lines] + [b.total_nano])
    rows = [(ln.key, f"{ln.requests:,}", usd(ln.cost_nano, p), pct(ln.share)) for ln in b.lines]
    rows.append(("total", f"{b.requests:,}", usd(b.total_nano, p),
                 pct(1.0 if b.total_nano else 0.0)))
    return table(rows, [b.by, b.counted, "spend", "share"], right={1, 2, 3})


@app.command("breakdown")
def breakdown_(
    by: str = typer.Option("provider", "--by", help="provider, model, deployment, route, user, "
                                                    "key, complexity or region"),
    range_: str = _RANGE,
    at: str | None = _AT,
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    json_out: bool = _JSON,
) -> None:
    """Spend per provider, model, route, user or key over a range; the lines add up."""
    from axtui.costs import BY, breakdown, deployment_names, deployment_regions

    if by not in BY:
        raise CliError(f"unknown --by {by!r}: use {', '.join(BY)}")
    cfg, st = _open(config, store)
    w = _window(range_, _at(at, st))
    b = breakdown(st, by, w.since, w.until, deployments=deployment_names(cfg),
                  regions=deployment_regions(cfg))
    if json_out:
        emit_json({"range": w.label, **b.model_dump(mode="json")})
        return
    typer.echo(f"spend by {by}, {w.label}: {_span(w)}\n")
    typer.echo(_breakdown_table(b) if b.lines else "no spend in this range")


def _projection_lines(p) -> list[str]:
    from axtui.units import usd

    p_ = _places([p.spent_nano])
    interval = ("" if p.low_nano is None
                else f"  (95%: {usd(p.low_nano, 2)} – {usd(p.high_nano, 2)})")
    return [
        f"{p.scope}, {'today' if p.period == 'day' else 'this month'} "
        f"({_when(p.period_start)} → {_when(p.period_end)})",
        f"  spent so far   {usd(p.spent_nano, p_)}",
        f"  projected      {usd(p.projected_nano, 2)}{interval}",
        f"  rate now       {usd(p.rate_nano_per_hour, 4)}/h, trend {p.trend}"
        + (f" ({usd(round(p.slope_nano_per_hour2), 4)}/h per hour)"
           if p.trend in ("rising", "falling") else ""),
        f"  method         {p.method}",
    ]


@app.command("projection")
def projection_(
    period: str = typer.Option("both", "--period", help="day, month or both"),
    scope: str = typer.Option("global", "--scope", help="global, route:NAME, user:ID or key:ID"),
    at: str | None = _AT,
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    json_out: bool = _JSON,
) -> None:
    """Spend at the end of the day and the month: a trend with a 95% interval."""
    from axtui.costs import projection

    if period not in ("day", "month", "both"):
        raise CliError(f"unknown --period {period!r}: use day, month or both")
    _cfg, st = _open(config, store)
    now = _at(at, st)
    try:
        ps = [projection(st, p, now, scope=scope)
              for p in (("day", "month") if period == "both" else (period,))]
    except ValueError as e:
        raise CliError(str(e)) from None
    if json_out:
        emit_json({"projections": [p.model_dump(mode="json") for p in ps]})
        return
    for i, p in enumerate(ps):
        typer.echo(("\n" if i else "") + "\n".join(_projection_lines(p)))


@app.command("optimal")
def optimal_(
    range_: str = typer.Option("7d", "--range", "-r", help="day, week, month or a span"),
    top: int = typer.Option(5, "--top", min=1, help="savings opportunities to list"),
    at: str | None = _AT,
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    json_out: bool = _JSON,
) -> None:
    """Actual spend against the cheapest capable deployment for the same tokens, and the
    route/deployment pairs that overspend most."""
    from axtui.costs import optimal
    from axtui.units import pct, usd

    _cfg, st = _open(config, store)
    w = _window(range_, _at(at, st))
    o = optimal(st, w.since, w.until, top=top)
    if json_out:
        emit_json({"range": w.label, **o.model_dump(mode="json")})
        return
    typer.echo(f"actual against optimal, {w.label}: {_span(w)}\n")
    if not o.routes:
        typer.echo("no spend in this range")
        return
    p = _places([o.cost_nano, o.optimal_cost_nano] + [r.cost_nano for r in o.routes]
                + [r.optimal_cost_nano for r in o.routes])
    rows = [(r.route, f"{r.requests:,}", usd(r.cost_nano, p), usd(r.optimal_cost_nano, p),
             usd(r.overspend_nano, p), pct(r.overspend_nano / r.cost_nano if r.cost_nano
                                           else None)) for r in o.routes]
    rows.append(("total", f"{sum(r.requests for r in o.routes):,}", usd(o.cost_nano, p),
                 usd(o.optimal_cost_nano, p), usd(o.overspend_nano, p),
                 pct(o.overspend_fraction)))
    typer.echo(table(rows, ["route", "requests", "actual", "optimal", "overspend", "of actual"],
                     right={1, 2, 3, 4, 5}))
    if o.top:
        typer.echo("\ntop savings opportunities (route → deployment that served)")
        q = _places([x.overspend_nano for x in o.top] + [x.cost_nano for x in o.top])
        typer.echo(table([(f"{x.route} → {x.deployment}", f"{x.requests:,}",
                           usd(x.cost_nano, q), usd(x.overspend_nano, q),
                           pct(x.overspend_nano / x.cost_nano)) for x in o.top],
                         ["pair", "requests", "actual", "overspend", "of actual"],
                         right={1, 2, 3, 4}))


def _budget_rows(lines) -> list[tuple]:
    from axtui.units import pct, usd

    places = _places([b.spent_nano for b in lines])  # one column, one number of places
    return [(b.scope, b.period, usd(b.limit_nano, 2), usd(b.spent_nano, places),
             pct(b.used), "–" if b.projected_nano is None else usd(b.projected_nano, 2),
             pct(b.projected_used), ("SPENT" if b.used >= 1 else
                                     f"crossed {b.thresholds_crossed[-1]}%"
                                     if b.thresholds_crossed else "ok")) for b in lines]


_BUDGET_HEADERS = ["scope", "period", "limit", "spent", "used", "projected", "proj. use",
                   "state"]


@app.command("budget")
def budget_(
    at: str | None = _AT,
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    json_out: bool = _JSON,
) -> None:
    """Each [[budgets]] entry: spent this period, share used, projected end of period.
    Exits 1 when a budget is spent."""
    from axtui.costs import budget_status

    cfg, st = _open(config, store)
    lines = budget_status(st, list(cfg.budgets), _at(at, st))
    spent = any(b.used >= 1 for b in lines)
    if json_out:
        emit_json({"budgets": [b.model_dump(mode="json") for b in lines]})
    elif not cfg.budgets:
        typer.echo("no [[budgets]] in the config")
    else:
        typer.echo(table(_budget_rows(lines), _BUDGET_HEADERS, right={2, 3, 4, 5, 6}))
    if spent:
        raise typer.Exit(1)


def _free_tier_line(f, label: str) -> str:
    from axtui.units import pct, usd

    return (f"free tiers {label}: {f.free:,} of {f.served:,} answers ({pct(f.share)}), "
            f"avoiding {usd(f.avoided_nano, _places([f.avoided_nano]))} at list price")


@app.command("free-tier")
def free_tier_(
    range_: str = _RANGE,
    at: str | None = _AT,
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    json_out: bool = _JSON,
) -> None:
    """The share of answers served on free tiers over a range, and the spend that avoided."""
    from axtui.costs import free_deployments, free_tier_share

    cfg, st = _open(config, store)
    w = _window(range_, _at(at, st))
    f = free_tier_share(st, w.since, w.until, free_deployments(cfg))
    if json_out:
        emit_json({"range": w.label, **f.model_dump(mode="json")})
        return
    if not f.deployments:
        typer.echo("no deployment is on a free tier (free_tier in [[deployments]] or "
                   "[providers.X.free_tier])")
        return
    typer.echo(f"{_span(w)}\n" + _free_tier_line(f, w.label) if f.served
               else f"no answers in this range ({_span(w)})")


@app.command("summary")
def summary_(
    at: str | None = _AT,
    config: Path | None = _CONFIG,
    store: str | None = _STORE,
    json_out: bool = _JSON,
) -> None:
    """Today, this week and month; projections; providers and routes today; savings over
    7 days; budgets; recommendations."""
    from axtui.costs import summary
    from axtui.units import pct, usd

    cfg, st = _open(config, store)
    s = summary(st, _at(at, st), config=cfg)
    if json_out:
        emit_json(s.model_dump(mode="json"))
        return
    p = _places([s.today_nano, s.week_nano, s.month_nano])
    typer.echo(f"costs as of {_when(s.at)}\n")
    typer.echo(table([("today", usd(s.today_nano, p)), ("this week", usd(s.week_nano, p)),
                      ("this month", usd(s.month_nano, p))], ["period", "spent"], right={1}))
    for proj in (s.day, s.month):
        typer.echo("\n" + "\n".join(_projection_lines(proj)))
    for b in (s.providers_today, s.routes_today):
        if b.lines:
            typer.echo(f"\ntoday by {b.by}\n" + _breakdown_table(b))
    if s.free_tier_today is not None and s.free_tier_today.served:
        typer.echo("\n" + _free_tier_line(s.free_tier_today, "today"))
    o = s.optimal_7d
    if o.cost_nano:
        q = _places([o.cost_nano, o.optimal_cost_nano])
        typer.echo(f"\nlast 7 days: actual {usd(o.cost_nano, q)}, optimal "
                   f"{usd(o.optimal_cost_nano, q)}, overspend {usd(o.overspend_nano, q)} "
                   f"({pct(o.overspend_fraction)})")
    if s.budgets:
        typer.echo("\nbudgets\n" + table(_budget_rows(s.budgets), _BUDGET_HEADERS,
                                         right={2, 3, 4, 5, 6}))
    typer.echo("\nrecommendations")
    for r in s.recommendations:
        typer.echo(f"  - {r.text}")
    if not s.recommendations:
        typer.echo("  none: the data does not point at a change")
