"""`axtui demo`: synthetic traffic through the bundled demo config on a virtual clock, so a
newcomer sees routing, failover, breakers and costs in seconds, with no key and no network."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer

from axtui.cli.output import CliError, emit_json, ms, pct, table, usd

REPLAY_TRACE = "provider-outage"  # `axtui demo --replay` with no trace: the bundled outage
DEMO_MIX = {"chat": 0.6, "chat-fast": 0.15, "chat-free": 0.1, "chat-large": 0.1,
            "chat-long": 0.05, "chat-eu": 0.1, "chat-faq": 0.1}


def demo(
    trace: str | None = typer.Argument(None, help="with --replay: a trace file or a bundled "
                                       f"trace's name (default: {REPLAY_TRACE})"),
    requests: int = typer.Option(200, "--requests", "-n", min=1, max=1_000_000,
                                 help="how many requests to send"),
    rate: float = typer.Option(0.0, "--rate", min=0.0,
                               help="arrivals per second of virtual time (default: spread "
                                    "over 5 minutes)"),
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="config file (default: the bundled demo)"),
    store: str | None = typer.Option(None, "--store",
                                     help="store URL (default: the config's store)"),
    trace_out: Path | None = typer.Option(None, "--trace-out", help="also write a JSONL trace"),
    seed: int = typer.Option(7, "--seed", help="seed for traffic and simulated providers"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    live: bool = typer.Option(False, "--live", help="real-time traffic until SIGTERM (the "
                              "console's demo engine); --rate is the mean requests/s"),
    incident: Path | None = typer.Option(None, "--incident", help="with --live: an incident "
                                         "schedule (default: fixtures/demo_incident.toml)"),
    replay: bool = typer.Option(False, "--replay", help="open the console on a recorded "
                                f"trace replaying at 60x (TRACE, default {REPLAY_TRACE}): "
                                "the alerts, breakers and gates as they happened"),
) -> None:
    """Route synthetic traffic through simulated providers and print a per-deployment summary;
    with --replay, play a recorded trace in the console instead."""
    if replay or trace is not None:
        _replay(trace, config, seed, flag=replay, json_out=json_out, live=live)
        return
    if live:
        from axtui.cli.demo_live import main as live_main

        counts = live_main(config, store, rate or 30.0, seed, incident)
        if json_out:
            emit_json(counts)
        return

    from axtui.config import load_config

    cfg = load_config(config)
    mix = {r: w for r, w in DEMO_MIX.items() if r in cfg.routes} or {r: 1.0 for r in cfg.routes}
    rate = rate or max(requests / 300.0, 0.05)
    url = store or cfg.store.url
    started = time.perf_counter()
    records, stats, alerts = _run(cfg, requests, rate, mix, seed, url, trace_out)
    wall = time.perf_counter() - started

    from axtui.traces.summary import summarize

    s = summarize(records)
    flags = _flag_split(records)
    if json_out:
        emit_json({**s.to_dict(), "store": url, "recorder": stats, "wall_s": round(wall, 3),
                   "flags": flags, "alerts": alerts})
        return
    typer.echo(f"axtui demo: {s.requests} requests over {s.duration_s:,.0f}s of virtual time "
               f"in {wall:.2f}s; ok {pct(s.ok / s.requests)}; spent {usd(s.cost_nano, 4)} "
               f"(optimal {usd(s.optimal_cost_nano, 4)})")
    rows = []
    for d in s.deployments:
        errs = ", ".join(f"{k} {v}" for k, v in sorted(d.errors.items())) or ""
        rows.append((d.deployment, d.attempts, pct(d.success_rate), ms(d.p50_ms),
                     ms(d.p95_ms), f"{d.prompt_tokens + d.completion_tokens:,}",
                     usd(d.cost_nano, 4), errs))
    typer.echo("")
    typer.echo(table(rows, ["deployment", "attempts", "ok", "p50", "p95", "tokens", "cost",
                            "errors"], right={1, 2, 3, 4, 5, 6}))
    rows = [(r.route, r.requests, pct(r.ok / r.requests if r.requests else None), r.failovers,
             r.rejected, ms(r.p95_ms), usd(r.cost_nano, 4)) for r in s.routes]
    typer.echo("")
    typer.echo(table(rows, ["route", "requests", "ok", "failovers", "rejected", "p95", "cost"],
                     right={1, 2, 3, 4, 5, 6}))
    if s.errors:
        typer.echo("\nfailed requests by kind: " + ", ".join(
            f"{k} {v}" for k, v in sorted(s.errors.items())))
    if flags:
        typer.echo("\nflags (cohort vs baseline requests): " + "; ".join(
            f"{name} {n['cohort']} vs {n['baseline']}" for name, n in sorted(flags.items()))
            + "   ·   axtui flags report NAME")
    if cache := _cache_line(records):
        typer.echo("\ncache: " + cache + "   ·   axtui cache stats")
    if any(a["to"] in ("pending", "firing", "resolved") for a in alerts):
        typer.echo("\nalerts: " + _alert_story(alerts) + "   ·   axtui alerts list")
    dropped = stats.get("dropped", 0)
    typer.echo(f"\nrecorded {stats.get('written', 0)} records to {url}"
               + (f" ({dropped} DROPPED)" if dropped else "")
               + (f"; trace in {trace_out}" if trace_out else ""))
    typer.echo("next: axtui providers list   ·   axtui trace --route chat")


def _cache_line(records) -> str:
    """"chat-faq 24 of 33 requests (exact 8, semantic 16), saved $0.0010" per caching route."""
    by_route: dict[str, list[int]] = {}  # route -> [requests, exact, semantic, saved nano]
    for r in records:
        c = by_route.setdefault(r.route, [0, 0, 0, 0])
        c[0] += 1
        if r.cache is not None:
            c[1 if r.cache == "exact" else 2] += 1
            c[3] += r.optimal_cost_nano or 0
    return "; ".join(f"{route} {e + s} of {n} requests (exact {e}, semantic {s}), saved "
                     f"{usd(saved, 4)}" for route, (n, e, s, saved) in by_route.items()
                     if e + s)


def _replay(trace: str | None, config: Path | None, seed: int, *, flag: bool, json_out: bool,
            live: bool) -> None:
    """`axtui demo --replay [TRACE]`: what `axtui replay TRACE --tui` plays (faithful)."""
    if not flag:
        raise CliError(f"unexpected argument {trace!r}: a trace is for `axtui demo --replay "
                       "TRACE`")
    if json_out or live:
        raise CliError("--replay plays a trace in the console: not with --json or --live "
                       "(for JSON: axtui replay TRACE --json)")
    from axtui.cli.replay import replay as replay_command

    replay_command(trace or REPLAY_TRACE, config=config, mode="faithful", speed=None,
                   set_=[], drain=[], scenario=None, seed=seed, json_out=False, tui=True,
                   store=None, control=None)


def _alert_story(alerts: list[dict]) -> str:
    """"mistral-errors pending → firing → resolved; ..." (no-data and inactive left out)."""
    paths: dict[str, list[str]] = {}
    for a in alerts:
        if a["to"] in ("pending", "firing", "resolved"):
            paths.setdefault(a["rule"], []).append(a["to"])
    return "; ".join(f"{rule} {' → '.join(p)}" for rule, p in paths.items())


def _flag_split(records) -> dict[str, dict[str, int]]:
    from axtui.flags.evaluate import in_cohort_variant

    out: dict[str, dict[str, int]] = {}
    for r in records:
        for name, variant in r.flags.items():
            n = out.setdefault(name, {"cohort": 0, "baseline": 0})
            if variant == "off" or in_cohort_variant(variant):  # env overrides: neither
                n["cohort" if variant != "off" else "baseline"] += 1
    return out


def _run(cfg, n, rate, mix, seed, url, trace_out):
    from axtui.clock import VirtualClock
    from axtui.engine.engine import RoutingError
    from axtui.runtime import RuntimeHost
    from axtui.traces.synthetic import traffic

    # virtual time that ends about now, so the store's health views show the run; started
    # on a whole minute, so rollup minutes and alert evaluations fall alike on every run
    clock = VirtualClock(start=(time.time() - n / rate - 30.0) // 60 * 60)
    # a thread recorder: a child process costs ~0.5 s to start, a demo run about a second
    host = RuntimeHost(cfg, face="demo", store_url=url, clock=clock, seed=seed,
                       recorder="thread", trace_path=str(trace_out) if trace_out else None)
    records = []
    host.subscribe_records(records.append)

    async def one(engine, arrival, t0):
        await clock.sleep(max(0.0, t0 + arrival.at_s - clock.monotonic()))
        try:
            if arrival.request.stream:
                s = engine.stream(arrival.request, arrival.ctx)
                async for _ in s:
                    pass
            else:
                await engine.complete(arrival.request, arrival.ctx)
        except RoutingError:
            pass  # the record says what happened; the summary counts it

    async def main():
        try:
            await host.start()  # flags seeded; a kill or a drain from the CLI applies
        except Exception as e:  # a bad URL or an unwritable file: say which, exit 2
            raise CliError(f"cannot open store {url!r}: {type(e).__name__}: {e}") from None
        try:
            t0 = clock.monotonic()
            arrivals = list(traffic(n, routes=mix, rate_per_s=rate, seed=seed))
            await asyncio.gather(*(one(host.engine, a, t0) for a in arrivals))
        finally:
            await host.stop()  # events, then every queued record, then the store

    clock.run(main())
    from dataclasses import asdict

    alerts = [{"rule": t.rule.name, "from": t.from_state, "to": t.to_state, "at": t.at,
               "value": t.value} for t in (host.alerts.recent if host.alerts else ())]
    return records, asdict(host.recorder.stats()), alerts
