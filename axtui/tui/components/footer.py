"""The keys bar: Textual's Footer, recomposed only when the keys it shows change.

Textual's Footer rebuilds every key widget on each bindings update, and a focus change (`1`-`5`,
tab, a click) is one: that rebuild was most of a focus change's time. The keys shown are the
App's, so moving focus between panes rarely changes them.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: tuple | None = None

    def shown_keys(self, screen: Screen) -> tuple:
        """What compose() would draw: each shown binding, its key as displayed, enabled."""
        return tuple(
            (b.key, self.app.get_key_display(b), b.description, b.action, enabled, tooltip)
            for (_, b, enabled, tooltip) in screen.active_bindings.values()
            if b.show or b.action == "command_palette")

    def bindings_changed(self, screen: Screen) -> None:
        ready = self._bindings_ready and screen.app.app_focus
        if ready and screen is self.screen and self.is_attached:
            shown = self.shown_keys(screen)
            if shown == self._shown:
                return  # the same keys: nothing to rebuild
            self._shown = shown
        super().bindings_changed(screen)
