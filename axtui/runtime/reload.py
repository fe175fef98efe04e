"""Reload a running host's config from its file (SIGHUP, `POST /admin/config/reload`,
`axtui config reload`): read and validate the whole file first, refuse it with every
problem listed (nothing changes), else swap the engine's routing state in one step
(engine/reload.py). Sections that wait for a restart keep their running values and are
named. Every attempt, refused or applied, is a `config_reload` event in the store with its
diff of routes, deployments, limits and flags.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from axtui.config import Config
    from axtui.runtime.host import RuntimeHost

log = logging.getLogger(__name__)

EVENT_KIND = "config_reload"


@dataclass
class ReloadResult:
    ok: bool
    source: str
    by: str
    process_id: str
    errors: list[str] = field(default_factory=list)
    diff: dict[str, Any] = field(default_factory=dict)
    restart_required: dict[str, str] = field(default_factory=dict)  # section: why
    changed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if not self.ok:
            return f"config reload from {self.source} refused: " + "; ".join(self.errors)
        what = "applied" if self.changed else "unchanged"
        wait = (f"; waiting for a restart: {', '.join(self.restart_required)}"
                if self.restart_required else "")
        return f"config reload from {self.source} {what} (by {self.by}){wait}"


def _fleet_problems(host: RuntimeHost, old: Config, new: Config) -> list[str]:
    """With [redis], quotas and the deployment set are shared objects built at start."""
    if host.fleet is None:
        return []
    problems = []
    if {d.id for d in old.deployments} != {d.id for d in new.deployments}:
        problems.append("deployments: added or removed deployments need a restart while "
                        "[redis] is set (the fleet's shared headroom is built at start)")
    if old.quotas != new.quotas:
        problems.append("quotas: need a restart while [redis] is set (the fleet shares "
                        "the counters built at start)")
    return problems


async def reload_config(host: RuntimeHost, path: str | Path | None, *, by: str,
                        adjust: Callable[[Config], Config] | None = None) -> ReloadResult:
    """Re-read `path` (None: the bundled demo) and apply it to `host`'s engine, or refuse.
    `adjust` applies the command line's overrides (e.g. `--grace`) to the file's config."""
    from axtui.config import ConfigError, load_config
    from axtui.engine.reload import diff, pin_restart_only

    source = str(path) if path is not None else "demo.toml (bundled)"
    result = ReloadResult(ok=False, source=source, by=by, process_id=host.process_id)
    old = host.config
    try:
        loaded = await asyncio.to_thread(load_config, path)
    except ConfigError as e:
        result.errors = list(e.problems)
    else:
        if adjust is not None:
            loaded = adjust(loaded)
        new, result.restart_required = pin_restart_only(old, loaded)
        result.errors = _fleet_problems(host, old, new)
        if not result.errors:
            d = diff(old, new)
            result.diff, result.changed = d.as_dict(), not d.empty()
            try:
                if result.changed:
                    await host.before_reload(new)  # the recorder's route labels
                    host.engine.reload(new)  # one synchronous swap
                    host.config = new
            except (ValueError, KeyError) as e:  # built aside: the engine is unchanged
                result.errors = [f"{source}: {e}"]
            else:
                result.ok = True
                if result.changed:
                    host.after_reload(new)  # the alert rules: budgets, SLOs, [[alerts]]
    if result.ok and result.changed and not host.read_only:
        from axtui.flags.ops import seed

        # flags new in the file join the control plane (the store's own state wins)
        await asyncio.to_thread(seed, host.store, host.config, now=host.clock.now())
        await host.refresh_control()
    await _audit(host, result)
    (log.info if result.ok else log.warning)("%s", result.summary())
    return result


async def _audit(host: RuntimeHost, result: ReloadResult) -> None:
    if host.read_only or host.store is None:
        return
    detail = {"summary": result.summary(), **result.as_dict()}
    try:
        await asyncio.to_thread(host.store.add_event, EVENT_KIND, host.process_id, detail)
    except Exception as e:  # the reload stands; the log has it, the answer says so
        result.errors.append(f"the audit event was not stored: {type(e).__name__}: {e}")
        log.exception("config reload: audit event not stored")
