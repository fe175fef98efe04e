"""The scenario file: good files load into frozen models; bad ones raise one clear line each,
naming the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from axtui.sim.scenario import (
    ScenarioError,
    bundled_scenarios,
    find_scenario,
    load_scenario,
    single_upstream,
)

_GOOD = """
[scenario]
name = "one provider down"
description = "alpha fails every request from 10 s to 40 s; beta stays healthy"
duration_s = 60

[[upstreams]]
name = "alpha"
protocol = "openai"
model = "gpt-4o-mini"
latency_ms = 40
ttft_ms = 20
output_tokens = 30

[[upstreams]]
name = "beta"
protocol = "anthropic"
model = "claude-3-5-haiku"
latency_ms = 40

[[faults]]
upstream = "alpha"
start_s = 10
end_s = 40
kind = "error"
rate = 1.0
status = 503

[[faults]]
upstream = "beta"
kind = "rate_limit"
rate = 0.5
retry_after_s = 2
remaining = 0

[load]
rps = 20
concurrency = 16
stream_share = 0.5

[targets]
min_success = 1.0
max_p99_overhead_ms = 5
max_records_lost = 0
refused_status = 429
max_upstream_calls_per_s = 50
"""

_MINIMAL_HEAD = """
[scenario]
name = "x"

[[upstreams]]
name = "alpha"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def _problems(tmp_path: Path, text: str) -> list[str]:
    p = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    return e.value.problems


def test_the_contract_example_loads_with_every_value(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, _GOOD))
    assert s.name == "one provider down"
    assert s.scenario.duration_s == 60
    assert [u.name for u in s.upstreams] == ["alpha", "beta"]
    assert s.upstream("beta").protocol == "anthropic"
    alpha_down = s.faults_for("alpha")[0]
    assert (alpha_down.kind, alpha_down.start_s, alpha_down.end_s, alpha_down.error_status) == (
        "error", 10, 40, 503)
    storm = s.faults_for("beta")[0]
    assert (storm.error_status, storm.retry_after_s, storm.remaining, storm.end_s) == (
        429, 2, 0, None)
    assert (s.load.rps, s.load.concurrency, s.load.stream_share) == (20, 16, 0.5)
    assert s.targets.refused_status == 429 and s.targets.max_upstream_calls_per_s == 50
    assert s.source.endswith("s.toml")


def test_absent_sections_take_defaults(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, _MINIMAL_HEAD))
    assert s.faults == ()
    assert s.upstreams[0].protocol == "openai"
    assert s.load.rps > 0 and s.targets.min_success == 1.0
    assert s.scenario.seed == 0


def test_a_scenario_is_frozen(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, _GOOD))
    with pytest.raises(ValidationError):
        s.upstreams[0].latency_ms = 1  # type: ignore[misc]


def test_a_fault_is_active_from_start_up_to_end(tmp_path: Path) -> None:
    fault = load_scenario(_write(tmp_path, _GOOD)).faults[0]
    assert [fault.active(t) for t in (9.99, 10, 39.99, 40)] == [False, True, True, False]


def test_every_bundled_scenario_loads() -> None:
    bundled = bundled_scenarios()
    assert {"one_provider_down", "rate_limit_storm", "slow_degradation", "cut_streams",
            "everything_down"} <= set(bundled)
    for path in bundled.values():
        assert load_scenario(path).upstreams


def test_a_bundled_scenario_is_found_by_its_name() -> None:
    assert find_scenario("everything_down").name == "everything_down.toml"


def test_an_unknown_scenario_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ScenarioError, match="bundled: .*one_provider_down"):
        find_scenario("nope")


def test_the_storm_fixture_serves_at_least_half_on_each_provider() -> None:
    storm = load_scenario(bundled_scenarios()["rate_limit_storm"])
    assert len(storm.faults) == 2
    assert all(f.kind == "rate_limit" and f.rate <= 0.5 for f in storm.faults)
    assert {f.upstream for f in storm.faults} == {u.name for u in storm.upstreams}


def test_single_upstream_is_one_healthy_upstream() -> None:
    s = single_upstream("gemini", "gemini-2.0-flash")
    assert [(u.name, u.protocol, u.model) for u in s.upstreams] == [
        ("default", "gemini", "gemini-2.0-flash")]
    assert s.faults == ()


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "gone.toml")
    assert e.value.problems == [f"{tmp_path / 'gone.toml'}: file not found"]


def test_bad_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "[scenario\nname=1")
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 's.toml'}: not valid TOML")


@pytest.mark.parametrize(("extra", "key", "words"), [
    ('[[faults]]\nupstream = "alpha"\nkind = "fire"\n', "faults[0].kind", "Input should be"),
    ('[[faults]]\nupstream = "gamma"\nkind = "error"\n', "faults[0].upstream",
     "no upstream named 'gamma' (upstreams: alpha)"),
    ('[[faults]]\nupstream = "alpha"\nkind = "error"\nstart_s = 5\nend_s = 5\n',
     "faults[0]", "end_s 5 must be after start_s 5"),
    ('[[faults]]\nupstream = "alpha"\nkind = "error"\nrate = 1.5\n', "faults[0].rate",
     "less than or equal to 1"),
    ('[[faults]]\nupstream = "alpha"\nkind = "error"\nstatus = 200\n', "faults[0].status",
     "greater than or equal to 400"),
    ('[[faults]]\nupstream = "alpha"\nkind = "latency"\nstatus = 503\n', "faults[0]",
     "status: not used by kind 'latency' (it reads: factor)"),
    ('[[faults]]\nupstream = "alpha"\nkind = "error"\ncolour = 1\n', "faults[0].colour",
     "unknown key"),
    ('[load]\nrps = 0\n', "load.rps", "greater than 0"),
    ('[targets]\nmin_sucess = 1\n', "targets.min_sucess", "unknown key"),
])
def test_a_bad_fault_or_section_names_file_key_and_problem(
        tmp_path: Path, extra: str, key: str, words: str) -> None:
    problems = _problems(tmp_path, _MINIMAL_HEAD + extra)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 's.toml'}: {key}: "), problems
    assert words in problems[0]


def test_a_bad_upstream_names_its_index(tmp_path: Path) -> None:
    problems = _problems(tmp_path, _MINIMAL_HEAD + '[[upstreams]]\nname = "B/2"\n'
                         'protocol = "grpc"\n')
    assert any(p.endswith("upstreams[1].protocol: Input should be 'openai', 'anthropic', "
                          "'gemini' or 'cohere'") for p in problems), problems
    assert any("upstreams[1].name: 'B/2': use lower-case" in p for p in problems), problems


def test_two_upstreams_with_one_name_are_refused(tmp_path: Path) -> None:
    problems = _problems(tmp_path, _MINIMAL_HEAD + '[[upstreams]]\nname = "alpha"\n')
    assert problems == [f"{tmp_path / 's.toml'}: upstreams[1].name: 'alpha' is already used"]


def test_a_scenario_without_upstreams_is_refused(tmp_path: Path) -> None:
    problems = _problems(tmp_path, '[scenario]\nname = "x"\n')
    assert problems == [f"{tmp_path / 's.toml'}: upstreams: Field required"]


def test_with_protocol_changes_every_upstream_and_keeps_the_faults() -> None:
    from axtui.sim.scenario import with_protocol

    storm = load_scenario(bundled_scenarios()["rate_limit_storm"])
    gem = with_protocol(storm, "gemini")
    assert {u.protocol for u in gem.upstreams} == {"gemini"}
    assert gem.faults == storm.faults and gem.source == storm.source
