"""Themes from TOML files: the bundled ones (`themes/`, installed as `axtui.themes`) and the
user's (`<user config dir>/axtui/themes/*.toml`). Severity and state colours are theme
variables (`$severity-critical`, `$state-open`, ...), so CSS never names a colour.

A bad file is reported once (the caller shows it as a toast) and skipped; the console then
falls back to the default theme. Nothing here raises for a user's file.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

log = logging.getLogger(__name__)

DEFAULT_THEME = "axtui-dark"
COLOUR_KEYS = ("primary", "secondary", "accent", "foreground", "background", "surface",
               "panel", "success", "warning", "error")
# every theme defines these; a file that leaves one out gets the default's value
VARIABLE_DEFAULTS: dict[str, str] = {
    "severity-critical": "#EB5757",
    "severity-warning": "#F2C94C",
    "severity-info": "#56CCF2",
    "severity-resolved": "#4CC38A",
    "state-ok": "#4CC38A",
    "state-degraded": "#F2C94C",
    "state-limited": "#F2C94C",
    "state-half_open": "#F2994A",
    "state-open": "#EB5757",
    "state-drained": "#9B51E0",
    "state-idle": "#7D8CA3",
    "state-killed": "#EB5757",
}


class ThemeFileError(ValueError):
    pass


@dataclass
class ThemeSet:
    themes: dict[str, Theme] = field(default_factory=dict)  # by name, load order
    warnings: list[str] = field(default_factory=list)  # one line per bad file
    sources: dict[str, str] = field(default_factory=dict)  # theme name -> file


def _colour(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{where}: expected a colour string, got {type(value).__name__}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{where}: {value!r} is not a colour") from None
    return value


def parse_theme(data: dict, source: str) -> Theme:
    """A Theme from a theme file's table, or ThemeFileError naming the first problem."""
    known = {"name", "dark", "variables", *COLOUR_KEYS}
    extra = sorted(set(data) - known)
    if extra:
        raise ThemeFileError(f"{source}: unknown key {extra[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"{source}: needs a name")
    if "primary" not in data:
        raise ThemeFileError(f"{source}: needs a primary colour")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"{source}: dark must be true or false")
    colours = {k: _colour(f"{source}: {k}", data[k]) for k in COLOUR_KEYS if k in data}
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError(f"{source}: [variables] must be a table")
    var = dict(VARIABLE_DEFAULTS)
    for k, v in variables.items():
        var[k] = _colour(f"{source}: variables.{k}", v)
    return Theme(name=name.strip(), dark=dark, variables=var, **colours)


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ThemeFileError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ThemeFileError(f"{path}: not valid TOML: {e}") from None
    return parse_theme(data, str(path))


def bundled_theme_dir() -> Path:
    """The top-level `themes/`, installed as `axtui.themes` (a checkout maps it too)."""
    return Path(str(resources.files("axtui.themes")))


def user_theme_dir() -> Path:
    from platformdirs import user_config_path

    return user_config_path("axtui") / "themes"


def load_themes(bundled: Path | None = None, user: Path | None = None) -> ThemeSet:
    """Every good theme file, bundled first; a user theme of the same name replaces the
    bundled one. Bad files become warnings."""
    out = ThemeSet()
    for folder in (bundled or bundled_theme_dir(), user or user_theme_dir()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as e:
                out.warnings.append(f"theme skipped: {e}")
                log.warning("theme skipped: %s", e)
                continue
            out.themes[theme.name] = theme
            out.sources[theme.name] = str(path)
    if DEFAULT_THEME not in out.themes:
        out.warnings.append(f"the default theme {DEFAULT_THEME!r} is missing; using Textual's")
    return out


def pick(themes: ThemeSet, wanted: str | None) -> tuple[str, str | None]:
    """The theme to start with and a warning when `wanted` is not available."""
    fallback = DEFAULT_THEME if DEFAULT_THEME in themes.themes else "textual-dark"
    if wanted is None or wanted in themes.themes:
        return (wanted or fallback), None
    return fallback, f"theme {wanted!r} not found; using {fallback}"


def next_theme(themes: ThemeSet, current: str) -> str:
    names = list(themes.themes)
    if not names:
        return current
    if current not in names:
        return names[0]
    return names[(names.index(current) + 1) % len(names)]
