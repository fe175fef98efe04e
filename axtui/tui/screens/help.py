"""`?`: every binding, read from the live bindings (after the user's keymap), never typed out."""

from __future__ import annotations

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from axtui.tui.keys import BY_ID


def _sections() -> list[tuple[str, list[Binding]]]:
    from axtui.tui.components.slider import RolloutSlider
    from axtui.tui.components.spend import SpendChart
    from axtui.tui.screens.reason import ReasonScreen

    return [("spend chart", list(SpendChart.BINDINGS)),
            ("rollout slider", list(RolloutSlider.BINDINGS)),
            ("dialogs", list(ReasonScreen.BINDINGS))]


def binding_rows(app: App) -> list[tuple[str, str, str, str]]:
    """(section, keys, description, id) for the App's bindings with the keymap applied, then
    the slider's and the dialogs'."""
    rows: list[tuple[str, str, str, str]] = []
    keymap = app._keymap  # Textual keeps it here; set through set_keymap / update_keymap
    sections: list[tuple[str, BindingsMap]] = [("console", app._bindings.copy())]
    sections += [(name, BindingsMap(bindings)) for name, bindings in _sections()]
    for name, bmap in sections:
        if keymap:
            bmap.apply_keymap(keymap)
        by_id: dict[str, tuple[list[str], Binding]] = {}
        for key, bindings in bmap.key_to_bindings.items():
            for b in bindings:
                if b.system:
                    continue
                bid = b.id or f"action:{b.action}"
                keys, _ = by_id.setdefault(bid, ([], b))
                keys.append(app.get_key_display(b.with_key(key)))
        for bid, (keys, b) in by_id.items():
            known = BY_ID.get(bid)
            does = known.description if known else (b.tooltip or b.description or b.action)
            rows.append((name, " ".join(dict.fromkeys(keys)), does, bid))
    return rows


class HelpScreen(Screen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close", id="help-close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, pad_edge=False, show_header=False,
                      title="keys — remap any by id in axtui.toml's \\[console.keys]")
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("does")
        table.add_column("id", style="dim", no_wrap=True)
        section = None
        for where, keys, does, bid in binding_rows(self.app):
            if where != section:
                section = where
                table.add_row(f"[b u]{where}[/]", "", "")
            table.add_row(keys, does, bid)
        with VerticalScroll():
            yield Static(table)

    def action_dismiss(self) -> None:
        self.dismiss(None)
