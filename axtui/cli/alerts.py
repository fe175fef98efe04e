"""`axtui alerts list|show|ack|unack|silence|unsilence|rules|test`: alerts headless. States are
what the evaluator (in the serving or demo process) last wrote to the store; acks, silences
and store rules go through the control plane, so every process sharing the store sees them."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from axtui.cli.common import open_cli_store
from axtui.cli.flags import operator
from axtui.cli.output import CliError, emit_json, table

app = typer.Typer(help="Alerts: list, acknowledge, silence, rules, and test a rule now.",
                  no_args_is_help=True)
rules_app = typer.Typer(help="Alert rules: the config's, the budgets' and the store's.",
                        invoke_without_command=True)
app.add_typer(rules_app, name="rules")

_CONFIG = typer.Option(None, "--config", "-c", help="config file (default: the bundled demo)")
_STORE = typer.Option(None, "--store", help="store URL (default: the config's)")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_BY = typer.Option(None, "--by", help="who is acting (default: $USER)")
_GLYPH = {"firing": "▲", "pending": "◐", "nodata": "?", "resolved": "✓", "inactive": "·"}


def _open(config: Path | None, store: str | None, *, existing: bool = False):
    """`existing`: a command that only reads refuses a store file that is not there."""
    from axtui.alerts.evaluator import AlertEvaluator
    from axtui.config import load_config

    cfg = load_config(config)
    st = open_cli_store(store, config, existing=existing)
    return cfg, st, AlertEvaluator.from_config(st, cfg, st.clock)


def _every_rule(ev) -> list:
    from axtui.alerts.actions import stored_rules

    return ev.all_rules(stored_rules(ev.store))


def _rule(ev, name: str):
    """The rule called `name`, or one alert of a wildcard rule (`rule[deployment]`)."""
    for r in _every_rule(ev):
        if r.name == name:
            return r
        if r.wildcard and name.startswith(r.name + "["):
            for alert in ev.instances(r):
                if alert.name == name:
                    return alert
    raise CliError(f"unknown alert {name!r}; axtui alerts rules lists them")


def _one_alert(ev, name: str):
    """Acknowledging acts on one alert: a wildcard rule names several."""
    rule = _rule(ev, name)
    if rule.wildcard:
        names = ", ".join(a.name for a in ev.instances(rule)[:4])
        raise CliError(f"{name!r} is a wildcard rule; name one of its alerts ({names}, ...)")
    return rule


def _statuses(st):
    from axtui.alerts.state import read_alert_statuses

    with st.connect() as conn:
        return read_alert_statuses(conn, st.clock.now())


def _value(v: float | None, metric: str) -> str:
    from axtui.alerts.rules import value_text

    return value_text(v, metric)


def _ago(ts: float | None) -> str:
    if ts is None:
        return "–"
    s = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit} ago"
    return f"{s:.0f}s ago"


def _rule_error(e: Exception) -> CliError:
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        err = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "rule"
        if err["type"] == "literal_error":
            allowed = err["ctx"]["expected"].replace("'", "")
            return CliError(f"alert rule: {where}: unknown {where} {err['input']!r} "
                            f"(one of {allowed})")
        return CliError(f"alert rule: {where}: {err['msg'].removeprefix('Value error, ')}")
    return CliError(str(e))


@app.command("list")
def list_(firing: bool = typer.Option(False, "--firing", help="only firing alerts; exit 1 "
                                      "if any"),
          config: Path | None = _CONFIG, store: str | None = _STORE,
          json_out: bool = _JSON) -> None:
    """Every alert, most urgent first; exit 1 with --firing when something fires."""
    from axtui.alerts.state import alert_controls

    _, st, ev = _open(config, store, existing=True)
    statuses = _statuses(st)
    seen = {a.name for a in statuses}
    never = [a for r in _every_rule(ev) for a in ev.instances(r) if a.name not in seen]
    with st.connect() as conn:
        silences = [s for s in alert_controls(conn)[1] if s.ends_at > st.clock.now()]
    if firing:
        statuses, never = [a for a in statuses if a.firing], []
    if json_out:
        emit_json({"alerts": statuses, "never_evaluated": [r.name for r in never],
                   "silences": silences})
    else:
        rows = [(f"{_GLYPH[a.state]} {a.state}", a.severity, a.name,
                 f"{_value(a.value, a.metric)} {a.operator} {_value(a.threshold, a.metric)}",
                 _ago(a.since),
                 ("ack " + a.ack.by if a.ack else "")
                 + (" silenced " + a.silenced_by.id if a.silenced_by else ""))
                for a in statuses]
        rows += [("  not evaluated", r.severity, r.name, r.condition(), "–", "") for r in never]
        if rows:
            typer.echo(table(rows, ["state", "severity", "alert", "value vs threshold",
                                    "since", "notes"]))
        else:
            typer.echo("no firing alerts" if firing else "no alert rules")
        for s in silences:
            typer.echo(f"silence {s.id}: {_matchers(s.matchers)} until "
                       f"{_when(s.ends_at)} by {s.by} ({s.reason})")
    if firing and statuses:
        raise typer.Exit(1)


def _matchers(m: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(m.items()))


def _when(ts: float | None) -> str:
    from axtui.flags.report import when

    return when(ts)


@app.command("show")
def show(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
         limit: int = typer.Option(20, "--limit", "-n", min=1, help="events to show"),
         json_out: bool = _JSON) -> None:
    """One alert: its rule, state, value vs threshold, ack, silence, notifications, events."""
    from axtui.alerts.state import alert_event

    _, st, ev = _open(config, store, existing=True)
    rule = _rule(ev, name)
    statuses = _statuses(st)
    status = next((a for a in statuses if a.name == name), None)
    alerts = [a for a in statuses if a.name.startswith(name + "[")] if rule.wildcard else []
    events = [e for e in st.events(subject=name, limit=limit * 3)
              if e.kind.startswith("alert.")][:limit]
    if json_out:
        emit_json({"rule": rule.to_json(), "status": status, "alerts": alerts,
                   "events": [{"id": e.id, "ts": e.ts, "kind": e.kind,
                               "detail": alert_event(e)} for e in events]})
        return
    typer.echo(f"{rule.name}  ({rule.severity}, {rule.origin})")
    typer.echo(f"  condition   {rule.condition()}")
    if rule.annotations.summary:
        typer.echo(f"  summary     {rule.annotations.summary}")
    if rule.annotations.runbook:
        typer.echo(f"  runbook     {rule.annotations.runbook}")
    if rule.labels:
        typer.echo(f"  labels      {_matchers(rule.labels)}")
    for a in alerts:
        typer.echo(f"  {_GLYPH[a.state]} {a.state:9} {a.name}  {_value(a.value, rule.metric)}")
    if rule.wildcard:
        pass  # its alerts, above, carry the states
    elif status is None:
        typer.echo("  state       not evaluated yet (the serving or demo process evaluates)")
    else:
        typer.echo(f"  state       {_GLYPH[status.state]} {status.state} since "
                   f"{_when(status.since)}; value {_value(status.value, rule.metric)} "
                   f"(evaluated {_when(status.evaluated_at)})")
        if status.ack:
            typer.echo(f"  acked       by {status.ack.by} at {_when(status.ack.at)}"
                       + (f" ({status.ack.note})" if status.ack.note else ""))
        if status.silenced_by:
            s = status.silenced_by
            typer.echo(f"  silenced    {s.id} until {_when(s.ends_at)} by {s.by} ({s.reason})")
        typer.echo(f"  notified    {status.notifications_sent} sent, "
                   f"{status.notifications_failed} failed")
    for e in events:
        d = e.detail
        what = (f"{d.get('from_state')} → {d.get('to_state')} value "
                f"{_value(d.get('value'), rule.metric)}" if "to_state" in d
                else " ".join(f"{k}={v}" for k, v in d.items() if k != "rule"))
        typer.echo(f"  {_when(e.ts)}  {e.kind:20} {what}")


@app.command("ack")
def ack(name: str, note: str = typer.Option("", "--note", help="what is being done"),
        config: Path | None = _CONFIG, store: str | None = _STORE, by: str | None = _BY,
        json_out: bool = _JSON) -> None:
    """Acknowledge: it stays visible, repeat notifications stop, until it resolves."""
    from axtui.alerts.actions import AlertActionError
    from axtui.alerts.actions import ack as ack_alert

    _, st, ev = _open(config, store)
    _one_alert(ev, name)
    try:
        a = ack_alert(st, name, operator(by), note)
    except AlertActionError as e:  # resolved or inactive: nothing to acknowledge
        raise CliError(str(e)) from None
    if json_out:
        emit_json({"alert": name, "ack": a})
        return
    typer.echo(f"{name}: acknowledged by {a.by}; repeat notifications stop until it resolves")


@app.command("unack")
def unack(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
          by: str | None = _BY, json_out: bool = _JSON) -> None:
    """Withdraw an acknowledgement."""
    from axtui.alerts.actions import unack as unack_alert

    _, st, ev = _open(config, store)
    _one_alert(ev, name)
    if not unack_alert(st, name, operator(by)):
        raise CliError(f"alert {name!r} is not acknowledged")
    if json_out:
        emit_json({"alert": name, "ack": None})
        return
    typer.echo(f"{name}: no longer acknowledged")


@app.command("silence")
def silence(name: str | None = typer.Argument(None, help="an alert rule (or use --match)"),
            match: list[str] = typer.Option([], "--match", "-m", help="key=value (globs "
                                            "allowed); labels, alertname, severity, scope"),
            for_: str = typer.Option(..., "--for", help="how long, e.g. 30m, 2h"),
            reason: str = typer.Option(..., "--reason", "-r", help="why (audited)"),
            config: Path | None = _CONFIG, store: str | None = _STORE, by: str | None = _BY,
            json_out: bool = _JSON) -> None:
    """Mute notifications of the matching alerts for a while (they still show)."""
    from axtui.alerts.actions import AlertActionError, parse_matchers
    from axtui.alerts.actions import silence as add_silence
    from axtui.alerts.rules import parse_duration

    _, st, ev = _open(config, store)
    try:
        seconds = parse_duration(for_)
        matchers = parse_matchers(match) if match or not name else {}
        if name is not None:  # every alert of a wildcard rule, or the one alert
            key = "rule" if _rule(ev, name).wildcard else "alertname"
            matchers = {key: name, **matchers}
        s = add_silence(st, matchers, seconds, reason, operator(by))
    except (ValueError, AlertActionError) as e:
        raise CliError(str(e)) from None
    if json_out:
        emit_json({"silence": s})
        return
    muted = [a.name for r in _every_rule(ev) for a in ev.instances(r)
             if s.matches(a.identity())]
    typer.echo(f"silence {s.id}: {_matchers(s.matchers)} until {_when(s.ends_at)}; mutes "
               f"{len(muted)} rule(s)" + (f": {', '.join(muted)}" if muted else ""))


@app.command("unsilence")
def unsilence(silence_id: str, config: Path | None = _CONFIG, store: str | None = _STORE,
              by: str | None = _BY, json_out: bool = _JSON) -> None:
    """End a silence now."""
    from axtui.alerts.actions import AlertActionError
    from axtui.alerts.actions import unsilence as end_silence

    _, st, _ = _open(config, store)
    try:
        s = end_silence(st, silence_id, operator(by))
    except AlertActionError as e:
        raise CliError(str(e)) from None
    if json_out:
        emit_json({"unsilenced": s})
        return
    typer.echo(f"silence {s.id} ended ({_matchers(s.matchers)})")


@rules_app.callback()
def rules(ctx: typer.Context, config: Path | None = _CONFIG, store: str | None = _STORE,
          json_out: bool = _JSON) -> None:
    """Every rule: the config's, one per budget threshold, and those made in the store."""
    if ctx.invoked_subcommand is not None:
        return
    _, _, ev = _open(config, store, existing=True)
    every = _every_rule(ev)
    if json_out:
        emit_json({"rules": [r.to_json() for r in every]})
        return
    typer.echo(table([(r.name, r.origin, r.severity, r.condition()) for r in every],
                     ["rule", "from", "severity", "condition"]))


@rules_app.command("create")
def rules_create(
    name: str,
    metric: str = typer.Option(..., "--metric", help="error_rate, p95, cost_per_hour, ..."),
    threshold: float = typer.Option(..., "--threshold"),
    scope: str = typer.Option("global", "--scope", help="global, route:R, deployment:D, "
                              "provider:P"),
    op: str = typer.Option(">", "--op", help="> < >= <= == !="),
    window: str = typer.Option("5m", "--window"),
    for_: str = typer.Option("1m", "--for"),
    severity: str = typer.Option("warning", "--severity", help="info, warning, critical"),
    label: list[str] = typer.Option([], "--label", help="key=value"),
    summary: str = typer.Option("", "--summary"),
    runbook: str = typer.Option("", "--runbook"),
    config: Path | None = _CONFIG, store: str | None = _STORE, by: str | None = _BY,
    json_out: bool = _JSON,
) -> None:
    """Keep a new rule in the store: every evaluator sharing the store picks it up."""
    from axtui.alerts.actions import AlertActionError, create_rule, parse_matchers
    from axtui.alerts.rules import AlertRule, check_references

    cfg, st, ev = _open(config, store)
    try:
        labels = parse_matchers(label) if label else {}
        rule = AlertRule.model_validate({
            "name": name, "metric": metric, "threshold": threshold, "scope": scope,
            "operator": op, "window": window, "for": for_, "severity": severity,
            "labels": labels, "annotations": {"summary": summary, "runbook": runbook},
            "origin": "store"})
    except (ValueError, AlertActionError) as e:
        raise _rule_error(e) from None
    why = check_references(rule, cfg)
    if why:
        raise CliError(f"alert rule: scope: {why}")
    try:
        create_rule(st, rule, operator(by), {r.name for r in ev.rules})
    except AlertActionError as e:
        raise CliError(str(e)) from None
    if json_out:
        emit_json({"created": rule.to_json()})
        return
    typer.echo(f"rule {name}: {rule.condition()} ({rule.severity}); kept in the store")


@rules_app.command("delete")
def rules_delete(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
                 by: str | None = _BY, json_out: bool = _JSON) -> None:
    """Delete a rule made in the store (the config's are changed in the config)."""
    from axtui.alerts.actions import AlertActionError, delete_rule

    _, st, _ = _open(config, store)
    try:
        rule = delete_rule(st, name, operator(by))
    except AlertActionError as e:
        raise CliError(str(e)) from None
    if json_out:
        emit_json({"deleted": rule.to_json()})
        return
    typer.echo(f"rule {name}: deleted")


@app.command("test")
def test(name: str, config: Path | None = _CONFIG, store: str | None = _STORE,
         json_out: bool = _JSON) -> None:
    """Evaluate one rule now against the store: value vs threshold and the state it would
    move to. Changes nothing."""
    _, st, ev = _open(config, store, existing=True)
    previews = [ev.preview(a) for a in ev.instances(_rule(ev, name))]
    if json_out:
        out = [{"rule": p.rule.to_json(), "value": p.value, "holds": p.holds,
                "state": p.state, "would_be": p.would_be} for p in previews]
        emit_json(out[0] if len(out) == 1 and out[0]["rule"]["name"] == name
                  else {"alerts": out})
        return
    for p in previews:
        r = p.rule
        verdict = ("no data" if p.holds is None else "condition holds" if p.holds
                   else "condition does not hold")
        typer.echo(f"{r.name}: {r.metric} of {r.scope} = {_value(p.value, r.metric)} "
                   f"{r.operator} {_value(r.threshold, r.metric)}: {verdict}")
        typer.echo(f"state {p.state} → would be {p.would_be}")
