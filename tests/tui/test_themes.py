"""Themes from TOML files: four bundled, a user folder on top, severity and state colours as
theme variables, and a bad file as one warning with a fallback, never a crash."""

from __future__ import annotations

from axtui.tui.themes import (
    DEFAULT_THEME,
    VARIABLE_DEFAULTS,
    bundled_theme_dir,
    load_themes,
    next_theme,
    pick,
)

from .conftest import HostApp

BUNDLED = {"axtui-dark", "axtui-light", "axtui-high-contrast", "axtui-colour-blind"}


def test_the_four_bundled_themes_load_without_warnings(tmp_path):
    loaded = load_themes(user=tmp_path)
    assert set(loaded.themes) == BUNDLED and loaded.warnings == []


def test_every_bundled_theme_defines_every_severity_and_state_colour():
    for path in bundled_theme_dir().glob("*.toml"):
        text = path.read_text()
        for var in VARIABLE_DEFAULTS:
            assert f"\n{var} = " in text, f"{path.name} lacks {var}"


def test_a_user_theme_is_loaded_and_replaces_a_bundled_one_of_the_same_name(tmp_path):
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\n'
                                        '[variables]\nseverity-critical = "#FF00FF"\n')
    (tmp_path / "dark.toml").write_text('name = "axtui-dark"\nprimary = "#000001"\n')
    loaded = load_themes(user=tmp_path)
    assert loaded.themes["mine"].variables["severity-critical"] == "#FF00FF"
    assert loaded.themes["mine"].variables["state-open"] == VARIABLE_DEFAULTS["state-open"]
    assert loaded.themes["axtui-dark"].primary == "#000001"


def test_a_bad_theme_file_is_one_warning_and_the_others_still_load(tmp_path):
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (tmp_path / "typo.toml").write_text('name = "typo"\nprimray = "#123456"\n')
    (tmp_path / "garbage.toml").write_text("this is [not toml")
    loaded = load_themes(user=tmp_path)
    assert len(loaded.warnings) == 3
    assert any("primary: 'not-a-colour' is not a colour" in w for w in loaded.warnings)
    assert any("unknown key 'primray'" in w for w in loaded.warnings)
    assert any("not valid TOML" in w for w in loaded.warnings)
    assert set(loaded.themes) == BUNDLED


def test_an_unknown_theme_name_falls_back_to_the_default_with_a_warning(tmp_path):
    name, warning = pick(load_themes(user=tmp_path), "solarized")
    assert name == DEFAULT_THEME and "theme 'solarized' not found" in warning


def test_t_cycles_through_the_themes(tmp_path):
    loaded = load_themes(user=tmp_path)
    seen = [DEFAULT_THEME]
    for _ in range(len(BUNDLED)):
        seen.append(next_theme(loaded, seen[-1]))
    assert set(seen) == BUNDLED and seen[-1] == DEFAULT_THEME


async def test_the_app_shows_one_toast_for_a_bad_file_and_starts_on_the_default(
        tmp_path, context):
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = 5\n')
    app = HostApp(context)
    async with app.run_test() as pilot:
        warnings = app.install_themes(user_dir=tmp_path)
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        assert len(warnings) == 1
        assert [n.message for n in app._notifications] == warnings
        await pilot.press("t")
        assert app.theme != DEFAULT_THEME
        assert app.theme_variables["severity-critical"]
