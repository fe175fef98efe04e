"""Spend by the region that served, and the share of answers served on free tiers with the
spend that avoided: from the rollups, exact."""

from __future__ import annotations

from axtui.config import parse_config
from axtui.costs import breakdown, free_deployments, free_tier_share
from axtui.records import Attempt, ErrorKind
from tests.costs.conftest import HOUR, fill, served
from tests.store.factory import T0, record

REGIONS = {"groq/llama": "us", "mistral/small": "eu", "openai/mini": None}
FREE = ["groq/llama"]


def failed(deployment: str, at: float) -> object:
    a = Attempt(deployment=deployment, started_at=at, latency_ms=50.0, status=500,
                error_kind=ErrorKind.server)
    return record(started_at=at, attempts=[a])


def fill_day(store):
    fill(store, [
        served("groq/llama", 40, at=T0),
        served("groq/llama", 60, at=T0 + 60),
        served("groq/llama", 100, at=T0 + 120),
        served("mistral/small", 1_000, at=T0 + 180),
        served("openai/mini", 5, at=T0 + 240),
        failed("groq/llama", T0 + 300),  # no answer: not in the share's denominator
    ])


def test_spend_by_region_groups_requests_by_the_serving_deployments_region(store):
    fill_day(store)
    b = breakdown(store, "region", T0, T0 + HOUR, regions=REGIONS)
    lines = {ln.key: (ln.requests, ln.cost_nano) for ln in b.lines}
    # the failed request was served nowhere: "(none)", beside the deployment without a region
    assert lines == {"eu": (1, 1_000), "us": (3, 200), "(none)": (2, 5)}
    assert b.total_nano == 1_205


def test_free_tier_share_counts_answers_and_the_list_price_they_avoided(store):
    fill_day(store)
    f = free_tier_share(store, T0, T0 + HOUR, FREE)
    assert (f.served, f.free, f.avoided_nano) == (5, 3, 200)
    assert f.share == 3 / 5


def test_free_tier_share_is_none_when_nothing_was_served(store):
    f = free_tier_share(store, T0, T0 + HOUR, FREE)
    assert (f.served, f.free, f.share, f.avoided_nano) == (0, 0, None, 0)


def test_free_deployments_come_from_the_deployment_or_its_providers_allowance():
    cfg = parse_config({
        "providers": {"groq": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1",
                               "free_tier": {"rpm": 30}},
                      "paid": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "deployments": [{"provider": "groq", "model": "a"},
                        {"provider": "groq", "model": "b", "free_tier": False},
                        {"provider": "paid", "model": "c", "free_tier": True},
                        {"provider": "paid", "model": "d"}],
        "routes": {"chat": {"candidates": ["groq/a"]}},
    }, "test.toml")
    assert free_deployments(cfg) == ["groq/a", "paid/c"]
