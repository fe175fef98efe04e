"""Every console binding, with an id a user can remap from the config (`[console.keys]`).

The defaults avoid tmux's prefix (ctrl+b) and the ctrl keys `Input` uses for editing, so a
remap is checked against the same list and refused with one line naming what is wrong.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from textual.binding import Binding
from textual.keys import Keys, _character_to_key

# ctrl+b: tmux's prefix; the rest: Input's editing keys (a binding there would never fire)
RESERVED = {
    "ctrl+b": "tmux's prefix",
    "ctrl+k": "Input (delete to end of line)",
    "ctrl+a": "Input (start of line)",
    "ctrl+e": "Input (end of line)",
    "ctrl+u": "Input (delete to start of line)",
    "ctrl+w": "Input (delete word)",
    "ctrl+d": "Input (delete character)",
}
_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")


@dataclass(frozen=True)
class ConsoleKey:
    id: str
    keys: str  # comma-separated, as Textual's Binding takes them
    action: str
    label: str  # the footer's word
    description: str  # what `?` and the README say
    show: bool = True  # in the footer
    group: str = "console"


_FOCUS = "screen.focus_pane"
CONSOLE_KEYS: tuple[ConsoleKey, ...] = (
    ConsoleKey("kill", "K", "kill", "kill",
               "kill the focused deployment (drain) or flag; on a killed one, the reversal"),
    ConsoleKey("rollout", "r", "rollout", "rollout", "move the focused flag's rollout"),
    ConsoleKey("ack", "a", "ack", "ack", "acknowledge the focused alert"),
    ConsoleKey("silence", "s", "silence", "silence", "silence the focused alert", show=False),
    ConsoleKey("filter", "slash", "screen.filter", "filter",
               "filter deployments and the live tail"),
    ConsoleKey("focus-deployments", "1", f"{_FOCUS}('deployments')", "deployments",
               "focus deployments", show=False),
    ConsoleKey("focus-alerts", "2", f"{_FOCUS}('alerts')", "alerts", "focus alerts",
               show=False),
    ConsoleKey("focus-rollouts", "3", f"{_FOCUS}('rollouts')", "rollouts", "focus rollouts",
               show=False),
    ConsoleKey("focus-spend", "4", f"{_FOCUS}('spend')", "spend", "focus spend"),
    ConsoleKey("focus-live", "5", f"{_FOCUS}('live')", "live", "focus the live tail"),
    ConsoleKey("slo", "o", "slo", "SLOs",
               "SLOs: each route's budget left and what burns it", show=False),
    ConsoleKey("pause", "space,p", "pause", "pause", "pause / resume updates"),
    ConsoleKey("theme", "t", "cycle_theme", "theme", "next theme", show=False),
    ConsoleKey("help", "question_mark", "help", "help", "every key (this list)"),
    ConsoleKey("commands", "colon", "command_palette", "cmd", "command palette"),
    ConsoleKey("copy", "y", "copy", "copy", "copy the focused row's id (OSC 52)", show=False),
    ConsoleKey("back", "escape", "back", "back", "back / close", show=False),
    # after the palette's key: the 80-column footer ends at `: cmd` and keeps `? help`
    ConsoleKey("quotas", "l", "quotas", "quotas",
               "quotas: limit, used and remaining per scope"),
    ConsoleKey("quit", "q", "quit_console", "quit", "quit (confirms while serving traffic)"),
)
BY_ID = {k.id: k for k in CONSOLE_KEYS}


# what --readonly refuses (shown dimmed, and a key press says why)
DESTRUCTIVE = frozenset({"kill", "rollout", "ack", "silence"})


def app_bindings() -> list[Binding]:
    return [Binding(k.keys, k.action, k.label, show=k.show, id=k.id) for k in CONSOLE_KEYS]


class KeymapError(ValueError):
    """One line naming the bad entry of `[console.keys]`."""


def _known_key_names() -> set[str]:
    names = {k.value for k in Keys}
    names |= {f"f{i}" for i in range(1, 25)}
    names |= {_character_to_key(c) for c in string.printable if not c.isspace()}
    names |= {"space", "tab", "enter", "escape", "backspace"}
    return names


def normalize_key(key: str) -> str:
    """One key in Textual's long form (`?` -> `question_mark`, `ctrl+X` -> `ctrl+x`)."""
    key = key.strip()
    if len(key) == 1:
        return _character_to_key(key)
    *mods, base = key.split("+")
    mods = [m.lower() for m in mods]
    if len(base) == 1:
        base = _character_to_key(base)
        if mods and base.isalpha():
            base = base.lower()
    else:
        base = base.lower()
    return "+".join([*mods, base])


def validate_key(key: str) -> str:
    if not key.strip():
        raise KeymapError("an empty key")
    norm = normalize_key(key)
    *mods, base = norm.split("+")
    for m in mods:
        if m not in _MODIFIERS:
            raise KeymapError(f"{key!r}: unknown modifier {m!r} (use {', '.join(_MODIFIERS)})")
    if base not in _known_key_names():
        raise KeymapError(f"{key!r}: unknown key {base!r}")
    if norm in RESERVED:
        raise KeymapError(f"{key!r} belongs to {RESERVED[norm]}; pick another key")
    return norm


def validate_keymap(table: dict) -> dict[str, str]:
    """`[console.keys]` (binding id -> key or list of keys) as Textual's keymap, or
    KeymapError naming the first bad entry: an unknown id, an unknown or reserved key, or a
    key given to two bindings."""
    out: dict[str, str] = {}
    for bid, value in table.items():
        if bid not in BY_ID:
            raise KeymapError(f"console.keys.{bid}: unknown binding id; ids: "
                              f"{', '.join(BY_ID)}")
        keys = [value] if isinstance(value, str) else value
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise KeymapError(f"console.keys.{bid}: expected a key or a list of keys")
        try:
            out[bid] = ",".join(validate_key(k) for k in keys)
        except KeymapError as e:
            raise KeymapError(f"console.keys.{bid}: {e}") from None
    taken: dict[str, str] = {}
    for k in CONSOLE_KEYS:
        for key in out.get(k.id, ",".join(normalize_key(x) for x in k.keys.split(","))).split(","):
            if key in taken:
                raise KeymapError(f"console.keys: {key!r} is bound to both {taken[key]!r} "
                                  f"and {k.id!r}")
            taken[key] = k.id
    return out


def effective_keys(keymap: dict[str, str] | None = None) -> list[tuple[ConsoleKey, list[str]]]:
    """Each binding with the keys it answers to after `keymap`: what `?` and the README list."""
    keymap = keymap or {}
    return [(k, keymap.get(k.id, k.keys).split(",")) for k in CONSOLE_KEYS]
