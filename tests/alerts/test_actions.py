"""Acknowledge and silence: control-plane entries every process sees, each a typed event."""

from __future__ import annotations

import pytest

from axtui.alerts.actions import (
    AlertActionError,
    ack,
    create_rule,
    parse_matchers,
    silence,
    unsilence,
)
from axtui.alerts.state import AlertAckEvent, AlertSilenceEvent, alert_event, read_alert_statuses
from axtui.records import ErrorKind
from axtui.store.db import open_store
from tests.alerts.conftest import evaluator, rule
from tests.store.factory import T0, attempt, record


def bad_minute(store, t: float) -> None:
    store.write_records([record(started_at=t, attempts=[
        attempt(started_at=t, error_kind=ErrorKind.server)]) for _ in range(5)])


def status(store_url, now):
    other = open_store(store_url)
    with other.connect() as conn:
        (a,) = read_alert_statuses(conn, now)
    other.close()
    return a


def test_an_ack_records_who_and_when_and_every_process_sees_it(store, store_url, clock):
    bad_minute(store, T0 + 1)
    ev = evaluator(store, clock, rule("errors", **{"for": 0}))
    clock.set(T0 + 10)
    ev.evaluate()
    clock.set(T0 + 20)
    ack(store, "errors", by="alice", note="draining mistral")
    a = status(store_url, clock.now())
    assert a.firing  # still visible
    assert (a.ack.by, a.ack.at, a.ack.note) == ("alice", T0 + 20, "draining mistral")
    (event,) = store.events(kind="alert.ack")
    assert alert_event(event) == AlertAckEvent(rule="errors", by="alice",
                                               note="draining mistral")


def test_an_ack_ends_when_the_alert_resolves(store, store_url, clock):
    bad_minute(store, T0 + 1)
    ev = evaluator(store, clock, rule("errors", **{"for": 0}))
    clock.set(T0 + 10)
    ev.evaluate()
    ack(store, "errors", by="alice")
    store.write_records([record(started_at=T0 + 121)])
    clock.set(T0 + 130)
    ev.evaluate()
    a = status(store_url, clock.now())
    assert (a.state, a.ack) == ("resolved", None)


def test_only_an_active_alert_can_be_acknowledged(store, clock):
    ev = evaluator(store, clock, rule("errors", **{"for": 0}))
    with pytest.raises(AlertActionError, match="'errors' is not evaluated yet"):
        ack(store, "errors", by="alice")
    store.write_records([record(started_at=T0 + 1)])  # healthy traffic: inactive
    clock.set(T0 + 10)
    ev.evaluate()
    # an ack kept on a quiet alert would mute its next firing before anyone saw it
    with pytest.raises(AlertActionError, match="'errors' is inactive: only a pending, firing"):
        ack(store, "errors", by="alice")
    assert store.events(kind="alert.ack") == []


def test_a_silence_is_stored_with_its_window_who_and_why(store, clock):
    s = silence(store, {"alertname": "errors"}, 1800, "maintenance", by="bob")
    assert (s.starts_at, s.ends_at, s.by, s.reason) == (T0, T0 + 1800, "bob", "maintenance")
    (event,) = store.events(kind="alert.silence")
    assert alert_event(event) == AlertSilenceEvent(**s.model_dump())
    assert s.matches(rule("errors").identity())
    assert not s.matches(rule("other").identity())
    assert not s.active(T0 + 1800)


def test_silences_match_labels_severity_and_scope_with_globs(store):
    s = silence(store, {"severity": "crit*", "scope": "deployment:mistral/*"}, 60, "x", by="b")
    assert s.matches(rule("a", severity="critical",
                          scope="deployment:mistral/mistral-small-latest").identity())
    assert not s.matches(rule("a", severity="warning",
                              scope="deployment:mistral/mistral-small-latest").identity())


def test_ending_a_silence_that_does_not_exist_is_refused(store):
    with pytest.raises(AlertActionError, match="no silence 'feed'"):
        unsilence(store, "feed", by="bob")


def test_a_silence_needs_a_reason_and_a_positive_duration(store):
    with pytest.raises(AlertActionError, match="--reason"):
        silence(store, {"alertname": "x"}, 60, " ", by="b")
    with pytest.raises(AlertActionError, match="--for"):
        silence(store, {"alertname": "x"}, 0, "why", by="b")


@pytest.mark.parametrize("bad", ["team", "=x", "team=", "te am=x"])
def test_a_bad_matcher_is_refused_in_one_line(bad):
    with pytest.raises(AlertActionError, match="bad matcher"):
        parse_matchers([bad])


def test_a_store_rule_cannot_take_a_name_already_in_use(store):
    create_rule(store, rule("x"), by="ops", taken=set())
    with pytest.raises(AlertActionError, match="already exists"):
        create_rule(store, rule("x"), by="ops", taken=set())
    with pytest.raises(AlertActionError, match="already exists"):
        create_rule(store, rule("from-config"), by="ops", taken={"from-config"})


def test_the_snapshot_shows_alerts_with_ack_and_silence(store, clock):
    from axtui.config import load_config
    from axtui.snapshot.build import build_snapshot

    bad_minute(store, T0 + 1)
    ev = evaluator(store, clock, rule("errors", severity="critical", **{"for": 0}),
                   rule("quiet", threshold=2.0))
    clock.set(T0 + 10)
    ev.evaluate()
    ack(store, "errors", by="alice")
    s = silence(store, {"alertname": "quiet"}, 600, "noisy", by="bob")
    snap = build_snapshot(store, load_config(), clock.now())
    errors, quiet = snap.alert("errors"), snap.alert("quiet")
    assert (errors.state, errors.value, errors.threshold, errors.acked_by) == (
        "firing", 1.0, 0.5, "alice")
    assert (quiet.state, quiet.silenced_by, quiet.silenced_until) == (
        "inactive", "bob", s.ends_at)
    assert snap.pulse.firing_alerts == 1


def test_a_silence_can_mute_one_alert_of_a_wildcard_rule(store):
    wild = rule("dep-errors", scope="deployment:*")
    mistral, openai = wild.instance("mistral/small"), wild.instance("openai/mini")
    by_label = silence(store, {"deployment": "mistral/*"}, 60, "vendor incident", by="b")
    assert by_label.matches(mistral.identity()) and not by_label.matches(openai.identity())
    by_name = silence(store, {"alertname": "dep-errors[mistral/small]"}, 60, "x", by="b")
    assert by_name.matches(mistral.identity()) and not by_name.matches(openai.identity())
    by_rule = silence(store, {"rule": "dep-errors"}, 60, "x", by="b")
    assert by_rule.matches(mistral.identity()) and by_rule.matches(openai.identity())
