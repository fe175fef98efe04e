"""The `[flags]` section: definitions are checked like the rest of the config, each problem
named by its key path."""

from __future__ import annotations

import pytest

from axtui.config import ConfigError, load_config
from tests.engine.conftest import make_config


def problems(**flags) -> list[str]:
    with pytest.raises(ConfigError) as err:
        make_config(flags=flags)
    return err.value.problems


def split(**kw):
    return {"effect": {"kind": "split", "route": "chat", "deployment": "c/dear"}, **kw}


def test_the_demo_defines_a_capability_gate_and_a_split_with_ladders():
    flags = load_config().flags
    gs, fl = flags["gemini_streaming"], flags["flash_lite_chat"]
    assert (gs.effect.kind, gs.effect.deployment, gs.effect.capability) == (
        "capability", "gemini/gemini-2.0-flash-lite", "streaming")
    assert (fl.effect.kind, fl.effect.route, fl.pct) == ("split", "chat", 5.0)
    assert gs.ladder and fl.ladder and fl.guardrails.rollback_after


def test_unknown_routes_and_deployments_are_named():
    lines = problems(f=split(effect={"kind": "split", "route": "nope", "deployment": "x/y"}))
    assert "test.toml: flags.f.effect.route: unknown route 'nope'" in lines
    assert "test.toml: flags.f.effect: unknown deployment 'x/y'" in lines


def test_a_capability_flag_on_a_route_that_does_not_list_the_deployment_is_refused():
    with pytest.raises(ConfigError) as err:
        make_config(routes={"chat": {"candidates": ["a/cheap", "b/mid"]},
                            "big": {"candidates": ["c/dear"]}},
                    flags={"g": {"effect": {"kind": "capability", "route": "big",
                                            "deployment": "a/cheap", "capability": "tools"}}})
    assert any("is not a candidate of route 'big'" in p for p in err.value.problems)


@pytest.mark.parametrize(("flag", "fragment"), [
    (split(pct=2.55), "at most one decimal"),
    (split(pct=101), "less than or equal to 100"),
    (split(ladder=[1, 10]), "exceeds the step limit"),
    (split(ladder=[5]), "exceeds the step limit"),
    (split(ladder=[1, 5, 5]), "steps must rise"),
    ({"effect": {"kind": "force", "route": "chat"}}, "needs `deployment`"),
    ({"effect": {"kind": "capability", "deployment": "a/cheap"}}, "needs `deployment` and"),
    ({"effect": {"kind": "split", "deployment": "c/dear"}}, "needs `route`"),
    (split(colour="red"), "unknown key"),
])
def test_bad_definitions_are_refused_with_the_reason(flag, fragment):
    lines = problems(f=flag)
    assert any(fragment in line for line in lines), lines


def test_a_flag_name_must_map_to_an_environment_variable():
    assert any("a flag name is" in p for p in problems(**{"Bad Name": split()}))
