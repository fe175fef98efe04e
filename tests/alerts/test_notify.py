"""Notifications to a loopback webhook receiver: one per transition, repeats while firing
unless acknowledged or silenced, retries with backoff, failures recorded and never lost,
URLs (secrets) never shown whole, and a slow receiver never holds up an evaluation."""

from __future__ import annotations

import logging
import threading

import pytest

from axtui.alerts.actions import ack, silence, unack
from axtui.alerts.notifiers import WebhookNotifier, redact_url
from axtui.alerts.rules import WebhookConfig
from axtui.alerts.state import AlertNotifyFailedEvent, alert_event, read_alert_statuses
from axtui.records import ErrorKind
from tests.alerts.conftest import evaluator, rule
from tests.alerts.receiver import Receiver
from tests.store.factory import T0, attempt, record

SECRET_PATH = "/services/T000/B000/s3cr3t-token"


def bad_minute(store, t: float) -> None:
    store.write_records([record(started_at=t, attempts=[
        attempt(started_at=t, error_kind=ErrorKind.server)]) for _ in range(5)])


def good_minute(store, t: float) -> None:
    store.write_records([record(started_at=t) for _ in range(5)])


@pytest.fixture
def waits():
    return []


def notifier(store, url: str, waits: list, **kw) -> WebhookNotifier:
    hook = WebhookConfig(name="oncall", url=url + SECRET_PATH, backoff_s=0.5, **kw)
    return WebhookNotifier([hook], store=store, sleep=waits.append)


def test_firing_and_resolved_each_post_one_json_body(store, clock, waits):
    with Receiver() as rx:
        n = notifier(store, rx.url, waits)
        ev = evaluator(store, clock, rule("errors", severity="critical", **{"for": 0}),
                       notifier=n)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        ev.evaluate()
        status, path, body = rx.next()
        assert path == SECRET_PATH
        assert body["status"] == "firing"
        assert body["alert"]["rule"] == "errors" and body["alert"]["value"] == 1.0
        assert body["alert"]["labels"]["severity"] == "critical"
        assert "[FIRING] critical errors" in body["text"]
        good_minute(store, T0 + 121)
        clock.set(T0 + 130)
        ev.evaluate()
        assert rx.next()[2]["status"] == "resolved"
        assert n.wait_idle(10)
        n.close()
    assert rx.received.empty()
    with store.connect() as conn:
        (a,) = read_alert_statuses(conn, clock.now())
    assert (a.notifications_sent, a.notifications_failed) == (2, 0)


def test_the_slack_format_posts_only_text(store, clock, waits):
    with Receiver() as rx:
        n = notifier(store, rx.url, waits, format="slack")
        ev = evaluator(store, clock, rule("errors", **{"for": 0}), notifier=n)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        ev.evaluate()
        _, _, body = rx.next()
        n.close()
    assert list(body) == ["text"]
    assert body["text"].startswith("[FIRING] warning errors: error_rate of global > 0.5")


def test_a_receiver_that_fails_then_recovers_gets_it_with_backoff(store, clock, waits):
    with Receiver([503, 500]) as rx:
        n = notifier(store, rx.url, waits)
        ev = evaluator(store, clock, rule("errors", **{"for": 0}), notifier=n)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        ev.evaluate()
        assert [rx.next()[0] for _ in range(3)] == [503, 500, 200]
        assert n.wait_idle(10)
        n.close()
    assert waits == [0.5, 1.0]  # doubling backoff between attempts
    assert (n.sent, n.failed) == (1, 0)
    assert not [e for e in store.events(limit=50) if e.kind == "alert.notify_failed"]


def test_a_delivery_that_never_succeeds_is_recorded_without_the_secret(store, clock, waits,
                                                                       caplog):
    caplog.set_level(logging.WARNING)
    with Receiver([500] * 3) as rx:
        n = notifier(store, rx.url, waits, max_attempts=3)
        ev = evaluator(store, clock, rule("errors", **{"for": 0}), notifier=n)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        ev.evaluate()
        assert n.wait_idle(10)
        n.close()
    (failed,) = [e for e in store.events(limit=50) if e.kind == "alert.notify_failed"]
    detail = alert_event(failed)
    assert isinstance(detail, AlertNotifyFailedEvent)
    assert (detail.rule, detail.transition, detail.attempts, detail.error) == (
        "errors", "firing", 3, "HTTP 500")
    assert detail.webhook == redact_url(rx.url) == f"{rx.url}/…"
    with store.connect() as conn:
        (a,) = read_alert_statuses(conn, clock.now())
    assert a.notifications_failed == 1
    assert "s3cr3t" not in failed.model_dump_json()
    assert "s3cr3t" not in caplog.text and "failed after 3 attempt(s)" in caplog.text


def test_an_unreachable_receiver_is_recorded_as_a_failure(store, clock, waits):
    with Receiver() as rx:
        url = rx.url
    n = notifier(store, url, waits, max_attempts=2)  # nothing listens there any more
    ev = evaluator(store, clock, rule("errors", **{"for": 0}), notifier=n)
    bad_minute(store, T0 + 1)
    clock.set(T0 + 10)
    ev.evaluate()
    assert n.wait_idle(10)
    n.close()
    (failed,) = [e for e in store.events(limit=50) if e.kind == "alert.notify_failed"]
    assert failed.detail["error"].startswith("ConnectError")
    assert "s3cr3t" not in failed.detail["error"]


def test_a_slow_receiver_never_holds_up_an_evaluation(store, clock, waits):
    release = threading.Event()
    with Receiver(hold=release) as rx:
        n = notifier(store, rx.url, waits)
        ev = evaluator(store, clock, rule("errors", **{"for": 0}), notifier=n)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        assert len(ev.evaluate()) == 1  # returned while the receiver still holds the POST
        assert rx.received.empty()
        release.set()
        assert rx.next()[2]["status"] == "firing"
        n.close()


def test_firing_repeats_after_the_repeat_interval_until_acknowledged(store, clock, waits):
    with Receiver() as rx:
        n = notifier(store, rx.url, waits)
        ev = evaluator(store, clock, rule("errors", window="10m", **{"for": 0}), notifier=n,
                       repeat_interval_s=120)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        ev.evaluate()
        assert rx.next()[2]["alert"]["kind"] == "firing"
        clock.set(T0 + 70)
        ev.evaluate()  # within the repeat interval: nothing
        clock.set(T0 + 130)
        ev.evaluate()
        assert rx.next()[2]["alert"]["kind"] == "repeat"
        ack(store, "errors", by="alice", note="looking")
        clock.set(T0 + 400)
        ev.evaluate()
        assert n.wait_idle(10)
        assert rx.received.empty()  # acknowledged: no repeat
        unack(store, "errors", by="alice")
        ev.evaluate()
        assert rx.next()[2]["alert"]["kind"] == "repeat"
        n.close()


def test_a_silenced_alert_still_shows_but_sends_nothing_until_the_silence_ends(
        store, clock, waits):
    with Receiver() as rx:
        n = notifier(store, rx.url, waits)
        ev = evaluator(store, clock, rule("errors", labels={"team": "routing"}, **{"for": 0}),
                       notifier=n)
        s = silence(store, {"team": "rout*"}, 300, "maintenance", by="bob")
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        assert len(ev.evaluate()) == 1
        with store.connect() as conn:
            (a,) = read_alert_statuses(conn, clock.now())
        assert a.firing and a.silenced_by == s
        assert n.wait_idle(10) and rx.received.empty()
        bad_minute(store, T0 + 301)
        clock.set(T0 + 310)  # the silence ended at T0 + 300: repeats resume
        ev.repeat_interval_s = 60
        ev.evaluate()
        assert rx.next()[2]["alert"]["kind"] == "repeat"
        n.close()


def test_a_webhook_url_from_an_unset_variable_is_refused_by_name():
    with pytest.raises(ValueError, match="AXTUI_TEST_HOOK is not set"):
        WebhookNotifier([WebhookConfig(url_env="AXTUI_TEST_HOOK")], env={})


def test_a_receiver_that_hangs_times_out_and_is_recorded(store, clock, waits):
    with Receiver(hold=threading.Event()) as rx:  # answers only when the test ends
        n = notifier(store, rx.url, waits, timeout_s=0.2, max_attempts=1)
        ev = evaluator(store, clock, rule("errors", **{"for": 0}), notifier=n)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        ev.evaluate()
        assert n.wait_idle(10)
        n.close()
    (failed,) = [e for e in store.events(limit=50) if e.kind == "alert.notify_failed"]
    assert failed.detail["error"].startswith("ReadTimeout")


def test_notifications_the_full_queue_refuses_are_counted_and_recorded(store, clock, waits):
    release = threading.Event()
    with Receiver(hold=release) as rx:
        hook = WebhookConfig(name="oncall", url=rx.url + SECRET_PATH, max_attempts=1)
        n = WebhookNotifier([hook], store=store, sleep=waits.append, queue_max=1)
        ev = evaluator(store, clock, *(rule(f"r{i}", **{"for": 0}) for i in range(4)),
                       notifier=n)
        bad_minute(store, T0 + 1)
        clock.set(T0 + 10)
        ev.evaluate()  # four firing notifications: one in flight, one queued, two refused
        assert n.dropped >= 2
        release.set()
        assert n.wait_idle(10)
        n.close()
    failed = [e for e in store.events(limit=50) if e.kind == "alert.notify_failed"]
    assert len(failed) == n.dropped and {e.detail["error"] for e in failed} == {"queue full"}
    assert n.sent + n.dropped == 4
