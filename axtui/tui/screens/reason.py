"""A confirm dialog that asks why: the action is audited with the reason typed here.

Cancel has the focus; the confirm button stays disabled until a reason is typed (when one
is required), so neither enter nor a stray key can do the destructive thing by default.
Typing while Cancel has the focus goes into the reason box: nothing typed is lost.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ReasonScreen(ModalScreen[str | None]):
    """Dismisses with the reason (confirmed) or None (cancelled)."""

    DEFAULT_CSS = """
    ReasonScreen { align: center middle; }
    ReasonScreen > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ReasonScreen .title { text-style: bold; width: 100%; }
    ReasonScreen .body { width: 100%; margin: 1 0 0 0; }
    ReasonScreen Input { margin: 1 0 0 0; }
    ReasonScreen Horizontal { height: auto; align-horizontal: right; margin: 1 0 0 0; }
    ReasonScreen Button { margin: 0 0 0 1; min-width: 10; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel", id="dialog-cancel")]

    def __init__(self, title: str, body: str, *, confirm: str = "Confirm",
                 reason_required: bool = True, placeholder: str = "reason (audited)") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.reason_required = reason_required
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Static(self.body, classes="body", markup=False)
            yield Input(placeholder=self.placeholder, id="reason", select_on_focus=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self.confirm_label, id="confirm", variant="error",
                             disabled=self.reason_required)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_key(self, event: events.Key) -> None:
        """A printable key with the buttons focused starts the reason (space stays a press)."""
        reason = self.query_one("#reason", Input)
        if self.focused is reason or not event.is_printable or not event.character:
            return
        if event.character == " ":
            return
        event.stop()
        event.prevent_default()
        reason.focus()
        reason.insert_text_at_cursor(event.character)

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.reason_required:
            self.query_one("#confirm", Button).disabled = not event.value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # enter in the reason box moves to the buttons; it never confirms by itself
        event.stop()
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.confirmed(self.query_one("#reason", Input).value.strip())
        else:
            self.dismiss(None)

    def confirmed(self, reason: str) -> None:
        """Confirm pressed (subclasses act here); the plain dialog returns the reason."""
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
