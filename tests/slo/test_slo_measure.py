"""What an SLO counts from the rollups: bad and eligible requests, burn rates and the budget
left, read at the coarsest resolution covering each window."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axtui.quantiles import bucket_of, bucket_value
from axtui.slo.measure import budget_left, burn_rate, route_counts
from axtui.slo.model import SloConfig
from axtui.slo.status import slo_statuses
from tests.store.factory import T0, attempt, record

from .conftest import requests

SLO = SloConfig(availability=99.0, latency_ms=2000, latency_target=90.0)


def counts(store, since, until, latency_ms=2000.0):
    with store.connect() as conn:
        return route_counts(conn, "chat", since, until, latency_ms)


def test_failed_and_deployment_less_requests_are_bad_and_caller_refusals_do_not_count(store):
    store.write_records(requests(T0, 100, failed=3, caller=10, no_candidates=2))
    c = counts(store, T0, T0 + 600)
    assert c.eligible("availability") == 90  # 100 less the 10 the caller's quota refused
    assert c.bad("availability") == 5  # 3 failed upstream, 2 found no deployment
    assert c.kinds == {"server": 3, "no_candidates": 2}


def test_the_latency_objective_counts_requests_that_reached_a_provider_over_the_threshold(
        store):
    store.write_records(requests(T0, 50, caller=5, slow=7, slow_ms=2500))
    c = counts(store, T0, T0 + 600)
    assert c.eligible("latency") == 45  # refused requests have no latency
    assert c.bad("latency") == 7


def test_a_latency_far_inside_its_bucket_is_counted_on_its_side_of_the_threshold(store):
    store.write_records(requests(T0, 10, slow=4, slow_ms=2000 * 1.05)
                        + requests(T0 + 20, 10, slow=10, slow_ms=2000 * 0.95))
    assert counts(store, T0, T0 + 600).bad("latency") == 4


def test_burn_rate_is_the_bad_share_over_the_allowed_share(store):
    store.write_records(requests(T0, 100, failed=5))
    c = counts(store, T0, T0 + 600)
    assert burn_rate(c, SLO, "availability") == pytest.approx(0.05 / 0.01)
    assert budget_left(c, SLO, "availability") == pytest.approx(1 - 5 / 1.0)


def test_a_window_without_requests_has_no_burn_rate(store):
    c = counts(store, T0, T0 + 600)
    assert burn_rate(c, SLO, "availability") is None and budget_left(c, SLO, "latency") is None


def test_a_28_day_window_reads_days_and_hours_and_counts_every_request(store, clock):
    # traffic 3 days ago, yesterday and now: the window tiles days, hours and minutes
    old = requests(T0, 30, failed=3)
    mid = requests(T0 + 2 * 86400 + 1800, 30, failed=1)
    new = requests(T0 + 3 * 86400 + 30, 40)
    store.write_records(old + mid + new)
    clock.set(T0 + 3 * 86400 + 120)
    c = counts(store, clock.now() - 28 * 86400, clock.now())
    assert (c.eligible("availability"), c.bad("availability")) == (100, 4)
    recent = counts(store, clock.now() - 3600, clock.now())
    assert (recent.eligible("availability"), recent.bad("availability")) == (40, 0)


def test_the_status_names_what_burned_the_budget_in_the_last_hour(store, clock):
    store.write_records(requests(T0, 60, failed=4, no_candidates=2, slow=3, slow_ms=9000))
    clock.set(T0 + 300)
    [s] = slo_statuses(store, {"chat": SLO}, clock.now())
    avail, lat = s.objectives
    assert [(c.what, c.n) for c in avail.causes] == [("server", 4), ("no_candidates", 2)]
    assert [(c.what, c.n) for c in lat.causes] == [("over 2000ms", 3)]
    assert avail.burn["5m"] == pytest.approx(6 / 60 / 0.01)
    assert [a.name for a in avail.alerts] == [
        "slo:chat:availability:page-fast", "slo:chat:availability:page-slow",
        "slo:chat:availability:ticket"]
    assert not s.paging  # nothing evaluated the rules: every alert is inactive


def test_every_routes_counts_read_at_once_are_each_routes_own(store):
    from axtui.slo.measure import routes_counts

    store.write_records(requests(T0, 40, route="chat", failed=4, slow=3, slow_ms=2500)
                        + requests(T0, 30, route="chat-eu", caller=6, slow=9, slow_ms=900)
                        + requests(T0, 20, route="embed", no_candidates=2))
    limits = {"chat": 2000.0, "chat-eu": 800.0, "embed": None, "idle": 1000.0}
    with store.connect() as conn:
        together = routes_counts(conn, limits, T0, T0 + 600)
        apart = {r: route_counts(conn, r, T0, T0 + 600, ms) for r, ms in limits.items()}
    assert together == apart
    assert together["chat"].bad("latency") == 3 and together["chat-eu"].bad("latency") == 9
    assert together["embed"].timed == 0 and together["embed"].bad("availability") == 2
    assert together["idle"].requests == 0


@given(latencies=st.lists(st.one_of(st.floats(0.0005, 3.6e7),
                                    st.floats(1500.0, 2600.0),  # near the threshold
                                    st.sampled_from([0.0, 2000.0, 1e9])),
                          min_size=1, max_size=60),
       threshold=st.sampled_from([2000.0, 0.0009, 35.5, 1e6, 2e7]))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_slow_count_is_every_request_whose_bucket_reports_over_the_threshold(
        tmp_path_factory, latencies, threshold):
    """The definition the module states, request by request, against what the reads count
    (in SQL, per route) over minutes and octaves of every size."""
    from axtui.clock import VirtualClock
    from axtui.store.db import open_store

    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('slow')}/slo.db",
                   clock=VirtualClock(start=T0))
    try:
        s.write_records([record(started_at=T0 + i * 7.0,
                                attempts=[attempt(started_at=T0 + i * 7.0, latency_ms=ms)])
                         for i, ms in enumerate(latencies)])
        with s.connect() as conn:
            got = route_counts(conn, "chat", T0, T0 + 7.0 * len(latencies) + 60, threshold)
    finally:
        s.close()
    assert got.timed == len(latencies)
    assert got.slow == sum(bucket_value(bucket_of(ms)) > threshold for ms in latencies)
