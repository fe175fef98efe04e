"""`axtui cache stats|clear`: the response cache of every engine sharing the store.

Like drains, both go through the store: `stats` reads hits per route over a range from the
rollups (every process, past runs too) and the running engines' live counts from their
heartbeats; `clear` writes a control entry every engine applies within one poll."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.output import CliError, emit_json, pct, table, usd

app = typer.Typer(help="The response cache: hit rates, and clearing it.", no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="config file (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_ROUTE = typer.Option(None, "--route", "-r", help="one route (default: every route that caches)")


def _caching_routes(cfg, route: str | None) -> list[str]:
    names = [n for n, r in cfg.routes.items() if r.cache is not None and r.cache.enabled]
    if route is None:
        return names
    if route not in cfg.routes:
        raise CliError(f"unknown route {route!r}; routes: {', '.join(cfg.routes)}")
    if route not in names:
        raise CliError(f"route {route!r} has no cache ([routes.{route}.cache]); routes that "
                       f"cache: {', '.join(names) or 'none'}")
    return [route]


@app.command("stats")
def stats(route: str | None = _ROUTE,
          range_: str = typer.Option("1h", "--range", help="a span such as 15m, 1h, 7d, "
                                     "ending at the newest record"),
          config: Path | None = _CONFIG, store: str | None = _STORE,
          json_out: bool = _JSON) -> None:
    """Hit rate per route over a range, and the running engines' cache sizes and counts."""
    from axtui.cache.report import live_caches, window_hits
    from axtui.config import load_config
    from axtui.store.process_status import read_process_states
    from axtui.units import parse_duration

    cfg = load_config(config)
    names = _caching_routes(cfg, route)
    try:
        span = parse_duration(range_.strip().lower())
    except ValueError:
        raise CliError(f"--range {range_!r}: expected a span such as 15m, 1h or 7d") from None
    st = open_cli_store(store, config, existing=True)
    newest = st.recent_records(limit=1)
    until = newest[0].ended_at if newest else time.time()
    with st.read() as conn:
        hits = window_hits(conn, until - span, until)
        live = live_caches(read_process_states(conn, time.time()))
    rows = []
    for name in names:
        h, lc = hits.get(name), live.get(name)
        rows.append({"route": name, "requests": h.requests if h else 0,
                     "hits": h.hits if h else 0, "hit_rate": h.hit_rate if h else None,
                     "live": lc.to_dict() if lc else None})
    if json_out:
        emit_json({"range": range_, "since": until - span, "until": until, "routes": rows})
        return
    if not names:
        typer.echo("no route caches: add [routes.NAME.cache] to the config")
        return
    typer.echo(f"response cache, the {range_} up to the newest record:\n")
    typer.echo(table([(r["route"], r["requests"], r["hits"], pct(r["hit_rate"]))
                      for r in rows], ["route", "requests", "hits", "hit rate"],
                     right={1, 2, 3}))
    running = [r for r in rows if r["live"]]
    typer.echo("")
    if not running:
        typer.echo("no running engine publishes a cache (axtui serve heartbeats show here)")
        return
    typer.echo("running engines, since they started:\n")
    typer.echo(table([(r["route"], lv["processes"], lv["entries"], _size(lv["bytes"]),
                       lv["lookups"], lv["exact"], lv["semantic_hits"], pct(lv["hit_rate"]),
                       ", ".join(f"{k} {n}" for k, n in sorted(lv["skipped"].items())),
                       usd(lv["saved_nano"], 6))
                      for r in running if (lv := r["live"])],
                     ["route", "procs", "entries", "size", "lookups", "exact", "semantic",
                      "hit rate", "skipped", "saved"], right={1, 2, 3, 4, 5, 6, 7, 9}))


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n / 1024:.1f} KiB"


@app.command("clear")
def clear(route: str | None = _ROUTE, config: Path | None = _CONFIG,
          store: str | None = _STORE,
          by: str | None = typer.Option(None, "--by", help="who (default: $USER)"),
          json_out: bool = _JSON) -> None:
    """Drop cached answers (one route's, or all) in every engine sharing the store."""
    from axtui.cache.control import clear as clear_cache
    from axtui.cli.flags import operator
    from axtui.config import load_config

    names = _caching_routes(load_config(config), route)
    if not names:
        raise CliError("no route caches: nothing to clear")
    st = open_cli_store(store, config)
    who = operator(by)
    version = clear_cache(st, route, who)
    if json_out:
        emit_json({"routes": names, "cleared": True, "by": who, "version": version})
        return
    typer.echo(f"{', '.join(names)}: cache cleared; every engine sharing the store applies it "
               "within one poll")
