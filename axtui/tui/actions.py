"""The console's actions, as a base class of the App: kill, rollout, ack, silence, help,
copy, theme, quit and the detail screens, with every binding (tui/keys.py). The App provides `context` (ConsoleContext), `snapshot`
(the Snapshot on screen, or None) and `focused_target()` (the focused row's Target)."""

from __future__ import annotations

import logging

from textual.app import App
from textual.screen import ModalScreen

from axtui.snapshot.model import Snapshot
from axtui.tui import clipboard
from axtui.tui import themes as theme_files
from axtui.tui.commands import ConsoleCommands
from axtui.tui.context import ConsoleContext, Target
from axtui.tui.keys import DESTRUCTIVE, KeymapError, app_bindings, validate_keymap

log = logging.getLogger(__name__)


class ConsoleActions(App):
    """`class ConsoleApp(ConsoleActions)`: Textual merges BINDINGS only along App classes."""

    context: ConsoleContext
    snapshot: Snapshot | None = None

    def focused_target(self) -> Target | None:
        """The focused row's key; the dashboard overrides this."""
        return None

    BINDINGS = app_bindings()
    COMMANDS = App.COMMANDS | {ConsoleCommands}

    # ------------------------------------------------------------------ set-up

    def on_unmount(self) -> None:
        context = getattr(self, "context", None)
        if context is not None:
            context.close()  # the store actions opened, if they did

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(theme_files.VARIABLE_DEFAULTS)

    def install_themes(self, wanted: str | None = None, user_dir=None) -> list[str]:
        """Register every theme file and select `wanted` (or the default); returns the
        warnings, each also shown once as a toast."""
        loaded = theme_files.load_themes(user=user_dir)
        for theme in loaded.themes.values():
            self.register_theme(theme)
        self.theme_set = loaded
        name, problem = theme_files.pick(loaded, wanted)
        warnings = list(loaded.warnings) + ([problem] if problem else [])
        self.theme = name
        for w in warnings:
            self.notify(w, severity="warning", timeout=8)
        return warnings

    def install_keymap(self, table: dict | None) -> dict[str, str]:
        """`[console.keys]` from the config; raises KeymapError (one line) when bad."""
        keymap = validate_keymap(table or {})
        if keymap:
            self.set_keymap(keymap)
            if self.is_screen_installed("help"):
                self.uninstall_screen("help")  # it lists the keys as they were
        return keymap

    # ------------------------------------------------------------------ read-only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.context.readonly and action in DESTRUCTIVE:
            return None  # dimmed in the footer; on_key says why
        return True

    def on_key(self, event) -> None:
        if not self.context.readonly or isinstance(self.screen, ModalScreen):
            return
        for key in self.screen.active_bindings:
            b = self.screen.active_bindings[key].binding
            if key == event.key and b.action in DESTRUCTIVE:
                self.notify(f"read-only console: {b.action} refused", severity="error")
                return

    # ------------------------------------------------------------------ helpers

    def _target(self, kind: str | None = None) -> Target | None:
        t = self.focused_target()
        if t is None or (kind is not None and t.kind != kind):
            what = kind or "row"
            self.notify(f"focus a {what} first", severity="warning")
            return None
        return t

    def after_action(self, result: object = None) -> None:
        """A dialog changed something: fetch a frame now, so the effect shows on the next
        one (the App's producer; a host without one has nothing to refresh)."""
        request = getattr(self, "request_frame", None)
        if result is not None and request is not None:
            request()

    def _refuse_readonly(self, what: str) -> bool:
        if self.context.readonly:
            self.notify(f"read-only console: {what} refused", severity="error")
            return True
        return False

    # ------------------------------------------------------------------ actions

    def action_kill(self) -> None:
        t = self.focused_target()
        if t is None:
            self.notify("focus a deployment or a flag first (or :kill NAME)",
                        severity="warning")
            return
        self.open_kill(t)

    def open_kill(self, target: Target) -> None:
        from axtui.tui.screens.kill import KillScreen, NoKillTarget, plan_kill

        if self._refuse_readonly("kill"):
            return
        try:
            plan = plan_kill(target, self.snapshot)
        except NoKillTarget as e:
            self.notify(str(e), severity="warning")
            return
        self.push_screen(KillScreen(plan, self.context), self.after_action)

    def action_rollout(self) -> None:
        t = self._target("flag")
        if t is not None:
            self.open_rollout(t.name)

    def open_rollout(self, flag: str) -> None:
        from axtui.tui.screens.rollout import RolloutScreen

        self.push_screen(RolloutScreen(flag, self.context), lambda _: self.after_action(True))

    def _alert(self, name: str):
        a = self.snapshot.alert(name) if self.snapshot is not None else None
        if a is None:
            self.notify(f"alert {name!r} is not in the snapshot", severity="warning")
        return a

    def action_ack(self) -> None:
        t = self._target("alert")
        if t is not None:
            self.open_ack(t.name)

    def open_ack(self, name: str) -> None:
        from axtui.tui.screens.alert_dialogs import AckScreen

        if not self._refuse_readonly("ack") and (a := self._alert(name)) is not None:
            self.push_screen(AckScreen(a, self.context), self.after_action)

    def action_silence(self) -> None:
        t = self._target("alert")
        if t is not None:
            self.open_silence(t.name)

    def open_silence(self, name: str) -> None:
        from axtui.tui.screens.alert_dialogs import SilenceScreen

        if not self._refuse_readonly("silence") and (a := self._alert(name)) is not None:
            self.push_screen(SilenceScreen(a, self.context), self.after_action)

    def open_detail(self, target: Target) -> None:
        """Enter on a row: the dashboard's tables call this with the row's key."""
        from axtui.tui.screens.detail_alert import AlertDetail
        from axtui.tui.screens.detail_deployment import DeploymentDetail
        from axtui.tui.screens.detail_flag import FlagDetail

        if target.kind == "deployment":
            self.push_screen(DeploymentDetail(target.name, self.context))
        elif target.kind == "flag":
            self.push_screen(FlagDetail(target.name, self.context))
        elif target.kind == "alert" and (a := self._alert(target.name)) is not None:
            self.push_screen(AlertDetail(a, self.context))

    def action_help(self) -> None:
        from axtui.tui.screens.help import HelpScreen

        if not self.is_screen_installed("help"):  # built once: opening it is only a switch
            self.install_screen(HelpScreen(), "help")
        self.push_screen("help")

    def action_slo(self) -> None:
        """The SLOs screen, judged at the snapshot's time (virtual time in a replay)."""
        import time

        from axtui.tui.screens.detail_slo import SloScreen

        config = getattr(getattr(self, "feed", None), "config", None)
        slos = config.slos() if config is not None else {}
        now = self.snapshot.taken_at if self.snapshot is not None else time.time()
        self.push_screen(SloScreen(slos, now, self.context))

    def action_quotas(self) -> None:
        """The quotas screen: the running engines' caller quotas, from their heartbeats."""
        from axtui.tui.screens.detail_quotas import QuotasScreen

        if not isinstance(self.screen, QuotasScreen):
            self.push_screen(QuotasScreen(self.context))

    def action_copy(self) -> None:
        t = self._target()
        if t is not None:
            clipboard.copy(self, t.name)
            self.notify(f"copied {t.kind} {t.name}")

    def action_cycle_theme(self) -> None:
        themes = getattr(self, "theme_set", None)
        if themes is not None:
            self.theme = theme_files.next_theme(themes, self.theme)
            self.notify(f"theme: {self.theme}", timeout=2)

    def action_back(self) -> None:
        """Close the screen on top (help, quotas, SLOs, a detail). On the dashboard itself
        nothing: popping it left the blank screen under it, a console gone dark at a stray
        esc."""
        if len(self.screen_stack) <= 1:
            return
        if self.is_screen_installed("dashboard") and self.screen is self.get_screen("dashboard"):
            return
        self.pop_screen()


__all__ = ["ConsoleActions", "KeymapError"]
