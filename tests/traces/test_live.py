"""Live demo traffic: a daily shape around the mean, and the incident schedule."""

from __future__ import annotations

import itertools
import time

import pytest

from axtui.config import ConfigError, load_config
from axtui.traces.live import daily_rate, live_arrivals, load_incident, with_incident


def _at_hour(hour: int) -> float:
    t = time.localtime()
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, 0, 0, 0, 0, -1))


def test_the_rate_peaks_in_the_afternoon_and_dips_at_night():
    assert daily_rate(_at_hour(14), 30.0) == pytest.approx(45.0)
    assert daily_rate(_at_hour(2), 30.0) == pytest.approx(15.0)


def test_arrivals_follow_the_rate_of_the_moment():
    start = _at_hour(14)
    arrivals = list(itertools.islice(live_arrivals(30.0, {"chat": 1.0}, start=start), 2000))
    rate = len(arrivals) / arrivals[-1].at_s
    assert 40.0 < rate < 50.0  # ~45/s at the peak


def test_the_bundled_incident_fails_a_provider_within_the_first_two_minutes_and_repeats():
    incident = load_incident()
    [(provider, windows)] = incident.items()
    first = windows[0]
    assert first.end_s <= 120 and first.end_s > first.start_s
    assert len(windows) > 1 and windows[1].start_s > first.end_s


def test_the_schedule_replaces_every_sim_outage_of_the_config():
    cfg = with_incident(load_config(), load_incident())
    [(provider, windows)] = load_incident().items()
    assert [(o.start_s, o.end_s) for o in cfg.providers[provider].sim.outages] == [
        (w.start_s, w.end_s) for w in windows]  # the virtual demo's own window is gone
    assert all(not p.sim.outages for name, p in cfg.providers.items() if name != provider)


def test_an_incident_naming_an_unknown_provider_is_one_clear_error(tmp_path):
    bad = tmp_path / "incident.toml"
    bad.write_text('[[outages]]\nprovider = "nope"\nstart_s = 1\nend_s = 2\n')
    with pytest.raises(ConfigError, match="nope: not a simulated provider"):
        with_incident(load_config(), load_incident(bad))


def test_a_malformed_incident_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "incident.toml"
    bad.write_text('[[outages]]\nstart_s = 1\n')
    with pytest.raises(ConfigError, match="not an incident schedule"):
        load_incident(bad)
