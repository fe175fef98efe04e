"""A faithful replay of the provider-outage trace, with an SLO on the chat-free route, fires
each burn alert at the virtual time the trace's own records say it should."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from axtui.config import parse_config
from axtui.slo.model import POLICIES
from axtui.traces.replay.run import ReplayOptions, replay
from tests.slo.expect import first_firing, trace_records
from tests.traces.replay_helpers import cut

ROUTE, AVAILABILITY = "chat-free", 99.0


def demo_with_slo(**slo) -> object:
    data = tomllib.loads(resources.files("axtui.fixtures").joinpath("demo.toml")
                         .read_text("utf-8"))
    data["routes"][ROUTE]["slo"] = slo
    return parse_config(data, "demo.toml + slo")


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    """The first ~17 minutes of the provider-outage trace (openai fails from minute 10)."""
    path = cut("provider-outage", 2100, tmp_path_factory.mktemp("t") / "outage.jsonl.gz")
    config = demo_with_slo(availability=AVAILABILITY)
    return trace_records(path), config, replay(ReplayOptions(trace=str(path), config=config))


def _fired(out: dict, name: str) -> list[float]:
    return [m["at_s"] for m in out["timeline"]
            if m["kind"] == "alert" and m["subject"] == name and m["to"] == "firing"]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_each_burn_alert_fires_when_the_trace_says_it_burns(outage, policy):
    records, config, out = outage
    start = records[0]["started_at"] // 60 * 60
    expected = first_firing(records, ROUTE, AVAILABILITY, policy.long_s, policy.short_s,
                            policy.factor, config.alerting.interval_s)
    assert expected is not None and expected - start >= 600  # during the outage, not before
    fired = _fired(out, f"slo:{ROUTE}:availability:{policy.name}")
    assert fired and fired[0] == pytest.approx(expected - start)


def test_the_faster_policies_need_a_harder_burn_so_fire_later(outage):
    _, _, out = outage
    at = {p.name: _fired(out, f"slo:{ROUTE}:availability:{p.name}")[0] for p in POLICIES}
    assert at["ticket"] < at["page-slow"] < at["page-fast"]


def test_pages_are_critical_and_tickets_warnings_in_the_timeline(outage):
    _, _, out = outage
    severity = {m["subject"]: m["severity"] for m in out["timeline"]
                if m["subject"].startswith("slo:")}
    assert severity[f"slo:{ROUTE}:availability:page-fast"] == "critical"
    assert severity[f"slo:{ROUTE}:availability:ticket"] == "warning"
