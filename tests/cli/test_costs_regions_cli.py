"""`axtui costs breakdown --by region` and `axtui costs free-tier`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from axtui.store import open_store
from tests.cli.test_costs_cli import CONFIG, DAY0, costs
from tests.costs.conftest import fill, served

REGIONAL = CONFIG.replace('model = "dear"\n', 'model = "dear"\nregion = "eu"\n').replace(
    'model = "cheap"\n', 'model = "cheap"\nregion = "us"\nfree_tier = true\n')


def make(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'costs.db'}"
    cfg = tmp_path / "axtui.toml"
    cfg.write_text(REGIONAL.format(url=url, limit="100"))
    store = open_store(url)
    fill(store, [served("sim/dear", 1_000, at=DAY0 + 60),
                 *(served("sim/cheap", 250, at=DAY0 + 120 + i) for i in range(3))])
    store.close()
    return cfg


def test_costs_by_region_lines_are_the_serving_regions(tmp_path):
    r = costs(make(tmp_path), "breakdown", "--by", "region", "--json")
    assert r.exit_code == 0, r.output
    lines = {ln["key"]: (ln["requests"], ln["cost_nano"]) for ln in json.loads(r.output)["lines"]}
    assert lines == {"eu": (1, 1_000), "us": (3, 750)}


def test_costs_free_tier_shows_the_share_and_the_spend_avoided(tmp_path):
    cfg = make(tmp_path)
    r = costs(cfg, "free-tier", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert (got["served"], got["free"], got["share"], got["avoided_nano"]) == (4, 3, 0.75, 750)
    assert got["deployments"] == ["sim/cheap"]
    text = costs(cfg, "free-tier").output
    assert "3 of 4 answers (75.0%)" in text and "$0.00000075" in text


def test_costs_summary_names_todays_free_tier_share(tmp_path):
    r = costs(make(tmp_path), "summary", "--json")
    assert json.loads(r.output)["free_tier_today"]["free"] == 3
