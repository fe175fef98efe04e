"""The `:` command palette: contextual commands named `area: verb target`, built from the
Snapshot on screen, plus `kill NAME` (the same dialog as `K`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from axtui.tui.context import Target


def console_commands(app) -> list[tuple[str, Callable[[], object], str]]:
    """(name, callback, help) for everything the console can do right now."""
    out: list[tuple[str, Callable[[], object], str]] = []
    snap = getattr(app, "snapshot", None)
    if snap is not None:
        for d in snap.deployments:
            t = Target("deployment", d.name)
            verb = "undrain" if d.state == "drained" else "drain"
            out.append((f"deployment: {verb} {d.name}", partial(app.open_kill, t),
                        f"{verb} through the control plane (audited)"))
            out.append((f"deployment: open {d.name}", partial(app.open_detail, t),
                        "latency, errors and breaker history"))
        for f in snap.flags:
            t = Target("flag", f.name)
            verb = "revive" if f.status == "killed" else "kill"
            out.append((f"flag: {verb} {f.name}", partial(app.open_kill, t),
                        f"{verb} the flag (audited)"))
            out.append((f"flag: rollout {f.name}", partial(app.open_rollout, f.name),
                        f"move the rollout from {f.pct:g}% within the guardrails"))
            out.append((f"flag: open {f.name}", partial(app.open_detail, t),
                        "cohort-vs-baseline report and audit history"))
        for a in snap.alerts:
            t = Target("alert", a.name)
            out.append((f"alert: ack {a.name}", partial(app.open_ack, a.name),
                        "acknowledge: stays visible, stops repeat notifications"))
            out.append((f"alert: silence {a.name}", partial(app.open_silence, a.name),
                        "silence for a while, with a reason"))
            out.append((f"alert: open {a.name}", partial(app.open_detail, t),
                        "rule, value history and runbook"))
    out.append(("console: SLOs", app.action_slo, "error budget left per route, burn "
                "rates and what burns them"))
    out.append(("console: quotas", app.action_quotas, "each quota scope's limit, used and "
                "remaining, from the running engines"))
    out.append(("console: help", app.action_help, "every key binding"))
    out.append(("console: next theme", app.action_cycle_theme, "cycle the themes"))
    return out


def kill_names(app) -> list[str]:
    snap = getattr(app, "snapshot", None)
    if snap is None:
        return []
    return [d.name for d in snap.deployments] + [f.name for f in snap.flags]


class ConsoleCommands(Provider):
    async def search(self, query: str) -> Hits:
        app = self.app
        words = query.strip().split(maxsplit=1)
        if words and words[0].lower() == "kill":
            # `:kill NAME`: a deployment or a flag by name, the same dialog as K
            rest = words[1] if len(words) > 1 else ""
            snap = app.snapshot
            for name in kill_names(app):
                if rest and rest.lower() not in name.lower():
                    continue
                kind = "deployment" if snap.deployment(name) is not None else "flag"
                yield Hit(1.0 if rest == name else 0.9, f"kill {name}",
                          partial(app.open_kill, Target(kind, name)), text=f"kill {name}",
                          help=f"the kill dialog for {kind} {name}")
        matcher = self.matcher(query)
        for name, callback, help_text in console_commands(app):
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)

    async def discover(self) -> Hits:
        for name, callback, help_text in console_commands(self.app):
            yield DiscoveryHit(name, callback, text=name, help=help_text)
