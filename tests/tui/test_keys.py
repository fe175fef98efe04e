"""Every binding has an id, the defaults avoid tmux's prefix and Input's ctrl keys, and
`[console.keys]` remaps them through Textual's keymap with one clear line when it is bad."""

from __future__ import annotations

import pytest

from axtui.tui.keys import CONSOLE_KEYS, RESERVED, KeymapError, normalize_key, validate_keymap
from axtui.tui.screens.help import HelpScreen, binding_rows

from .conftest import HostApp


def test_every_binding_has_a_unique_id():
    ids = [k.id for k in CONSOLE_KEYS]
    assert all(ids) and len(ids) == len(set(ids))


def test_no_default_key_is_reserved_or_given_twice():
    keys = [normalize_key(x) for k in CONSOLE_KEYS for x in k.keys.split(",")]
    assert not set(keys) & set(RESERVED)
    assert len(keys) == len(set(keys))


def test_the_defaults_the_issue_names():
    by_id = {k.id: k.keys.split(",") for k in CONSOLE_KEYS}
    assert by_id["kill"] == ["K"] and by_id["rollout"] == ["r"] and by_id["ack"] == ["a"]
    assert by_id["pause"] == ["space", "p"] and by_id["help"] == ["question_mark"]
    assert by_id["commands"] == ["colon"] and by_id["quit"] == ["q"]
    assert [by_id[f"focus-{p}"] for p in ("deployments", "alerts", "rollouts", "spend",
                                          "live")] == [["1"], ["2"], ["3"], ["4"], ["5"]]


def test_a_remap_is_normalized_for_textual():
    assert validate_keymap({"kill": "X", "help": ["?", "f1"]}) == {
        "kill": "X", "help": "question_mark,f1"}


@pytest.mark.parametrize("table, message", [
    ({"explode": "x"}, "console.keys.explode: unknown binding id"),
    ({"kill": "ctrl+b"}, "console.keys.kill: 'ctrl+b' belongs to tmux's prefix"),
    ({"kill": "ctrl+k"}, "belongs to Input"),
    ({"kill": "hyper+nonsense"}, "unknown key 'nonsense'"),
    ({"kill": "cmd+x"}, "unknown modifier 'cmd'"),
    ({"kill": 3}, "expected a key or a list of keys"),
    ({"kill": "r"}, "'r' is bound to both 'kill' and 'rollout'"),
])
def test_a_bad_keymap_is_refused_with_one_line(table, message):
    with pytest.raises(KeymapError, match=message.replace("(", r"\(").replace("+", r"\+")):
        validate_keymap(table)


def test_swapping_two_keys_is_not_a_clash():
    assert validate_keymap({"kill": "r", "rollout": "K"}) == {"kill": "r", "rollout": "K"}


async def test_a_remapped_key_fires_its_binding_and_the_old_one_does_not(context):
    app = HostApp(context)
    async with app.run_test() as pilot:
        app.install_keymap({"help": "f1"})
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_help_lists_every_binding_with_its_current_key(context):
    app = HostApp(context)
    async with app.run_test() as pilot:
        app.install_keymap({"kill": "X"})
        rows = binding_rows(app)
        console = {bid: keys for where, keys, _, bid in rows if where == "console"}
        assert set(console) >= {k.id for k in CONSOLE_KEYS}
        assert console["kill"] == "X"
        assert {"slider-commit", "slider-revert", "dialog-cancel", "spend.window"} <= {
            r[3] for r in rows}
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def test_the_readme_key_table_matches_the_bindings():
    from pathlib import Path

    from textual.keys import format_key

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Keys", 1)[1].split("| key | does | id |", 1)[1]
    rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    rows = rows[:len(CONSOLE_KEYS)]
    want = [f"| {' '.join(f'`{format_key(x)}`' for x in k.keys.split(','))} | "
            f"{k.description} | `{k.id}` |" for k in CONSOLE_KEYS]
    assert rows == want
