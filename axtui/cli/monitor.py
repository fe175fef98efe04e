"""`axtui monitor ...`: the store's health at a glance. `metrics` reads one named metric
(store/metrics.py) over a range, as a table, JSON, or a chart in the terminal."""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.output import CliError, emit_json, ms, pct, table, usd

app = typer.Typer(help="Watch the store: named metrics over time.", no_args_is_help=True)

_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
# steps a chart or table picks from: the first giving at most MAX_POINTS points
_STEPS = (60, 300, 900, 3600, 6 * 3600, 86400)
MAX_POINTS = 120
_POINT_LIMIT = 5000  # a --step finer than this many points is refused


def parse_duration(text: str, what: str) -> int:
    """'15m', '1h', '24h', '7d' in seconds; CliError (exit 2) naming `what` otherwise."""
    m = _DURATION.match(text.strip())
    if m is None or int(m.group(1)) == 0:
        raise CliError(f"bad {what} {text!r}: expected a count and m, h or d "
                       "(15m, 1h, 24h, 7d, 30d)")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def _anchor(st, until: str) -> float:
    """The end of the range: now, the newest record's end (`latest`, for stores written in
    virtual time), an ISO time, or epoch seconds."""
    if until == "now":
        return time.time()
    if until == "latest":
        newest = st.recent_records(limit=1)
        return newest[0].ended_at if newest else time.time()
    try:
        return float(until)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(until)
    except ValueError:
        raise CliError(f"bad --until {until!r}: expected now, latest, an ISO time or epoch "
                       "seconds") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _check_known(conn, s, config: Path | None) -> None:
    """CliError when the scope names a route, deployment or provider that neither the config
    nor anything the store ever recorded knows (a typo reads as one line, not 'no data')."""
    if s.kind == "global":
        return
    from sqlalchemy import select

    from axtui.config import load_config
    from axtui.store.tables import rollup_table as r

    cfg = load_config(config)
    known = {"route": set(cfg.routes), "deployment": {d.id for d in cfg.deployments},
             "provider": set(cfg.providers)}[s.kind]
    if s.name in known:
        return
    column = r.c.route if s.kind == "route" else r.c.deployment
    match = column.like(f"{s.name}/%") if s.kind == "provider" else column == s.name
    if conn.execute(select(column).where(match).limit(1)).first() is not None:
        return
    raise CliError(f"unknown {s.kind} {s.name!r}: not in the config or the store; "
                   f"{s.kind}s: {', '.join(sorted(known)) or 'none'}")


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "ratio":
        return pct(value)
    if unit == "ms":
        return ms(value)
    if unit == "per_s":
        return f"{value:,.2f}/s"
    return f"{usd(int(value))}/h"


def _stamp(t: float, step_s: int) -> str:
    fmt = "%Y-%m-%d" if step_s >= 86400 else "%m-%d %H:%M"
    return datetime.fromtimestamp(t, UTC).strftime(fmt)


def _chart(points: list[tuple[float, float | None]], title: str, unit: str, step_s: int) -> str:
    import plotext as plt

    have = [(i, v) for i, (_, v) in enumerate(points) if v is not None]
    plt.clear_figure()
    if not sys.stdout.isatty():
        plt.theme("clear")  # no colour codes into a pipe or a file
    plt.plotsize(min(100, max(40, plt.terminal_width() or 80)), 20)
    plt.title(title)
    scale = 100.0 if unit == "ratio" else 1e-9 if unit == "nano_usd_per_h" else 1.0
    plt.plot([i for i, _ in have], [v * scale for _, v in have], marker="braille")
    ticks = list(range(0, len(points), max(1, len(points) // 6)))
    plt.xticks(ticks, [_stamp(points[i][0], step_s) for i in ticks])
    plt.ylabel({"ratio": "%", "ms": "ms", "per_s": "per s", "nano_usd_per_h": "$/h"}[unit])
    return plt.build()


@app.command("metrics")
def metrics(
    metric: str = typer.Argument(..., help="error_rate, success_rate, p50, p95, p99, "
                                 "ttft_p95, request_rate, cost_per_hour, failover_rate, "
                                 "rejected_rate"),
    scope: str = typer.Option("global", "--scope", "-s",
                              help="global, route:NAME, deployment:NAME or provider:NAME"),
    range_: str = typer.Option("1h", "--range", "-r", help="15m, 1h, 24h, 7d, 30d ..."),
    step: str | None = typer.Option(None, "--step", help="1m, 5m, 1h ... (default: ~60 "
                                    "points)"),
    until: str = typer.Option("now", "--until",
                              help="end of the range: now, latest (newest record), ISO "
                              "time or epoch seconds"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or chart"),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="also resolves provider:NAME to its deployments"),
    store: str | None = typer.Option(None, "--store"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """One named metric over a range: its value and a series, as a table, JSON or chart."""
    from axtui.store.metrics import metric_series, metric_value, parse_metric, parse_scope

    if fmt not in ("table", "json", "chart"):
        raise CliError(f"bad --format {fmt!r}: expected table, json or chart")
    try:
        m, s = parse_metric(metric), parse_scope(scope)
    except ValueError as e:
        raise CliError(str(e)) from None
    span = parse_duration(range_, "range")
    step_s = parse_duration(step, "step") if step else next(
        (x for x in _STEPS if span / x <= MAX_POINTS), _STEPS[-1])
    if span / step_s > _POINT_LIMIT:
        raise CliError(f"bad step {step!r}: {span // step_s:,} points over {range_}; "
                       f"at most {_POINT_LIMIT:,}")
    if s.kind == "provider" and config is not None:
        from axtui.config import load_config

        cfg = load_config(config)
        if s.name in cfg.providers:
            s = s.with_deployments([d.id for d in cfg.deployments if d.provider == s.name])
    st = open_cli_store(store, config, existing=True)
    t1 = _anchor(st, until)
    t0 = t1 - span
    try:
        with st.connect() as conn:
            value = metric_value(conn, m, s, t0, t1)
            points = metric_series(conn, m, s, t0, t1, step_s)
            if value is None and all(v is None for _, v in points):
                _check_known(conn, s, config)  # no data: a typo, or quiet? say which
    except ValueError as e:  # a metric that means nothing at this scope
        raise CliError(str(e)) from None
    finally:
        st.close()
    if json_out or fmt == "json":
        emit_json({"metric": m.name, "unit": m.unit, "scope": str(s), "range": range_,
                   "since": t0, "until": t1, "step_s": step_s, "value": value,
                   "points": [{"t": t, "value": v} for t, v in points]})
        return
    title = f"{m.name} {s} over {range_}: {_show(value, m.unit)}"
    if fmt == "chart":
        if all(v is None for _, v in points):
            typer.echo(f"{title}\n(no data to chart)")
            return
        typer.echo(_chart(points, title, m.unit, step_s))
        return
    typer.echo(title)
    rows = [(_stamp(t, step_s), _show(v, m.unit)) for t, v in points]
    typer.echo(table(rows, ["from (UTC)", m.name], right={1}))
