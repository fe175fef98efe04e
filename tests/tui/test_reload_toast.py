"""A config reload of any process writing the store (its audited `config_reload` event)
shows in the console as a toast: applied, refused with its errors, or waiting for a restart.
Reloads from before the console's first frame are history, not news."""

from __future__ import annotations

from axtui.runtime.reload import EVENT_KIND, ReloadResult
from axtui.snapshot.build import build_snapshot
from axtui.snapshot.events import ConfigReloadEvent
from axtui.snapshot.model import EventView
from axtui.tui.app import ConsoleApp

from .snapshots_data import T0, frame, make_snapshot


def reload_event(id: int, result: ReloadResult) -> EventView:
    detail = {"summary": result.summary(), **result.as_dict()}
    return EventView(id=id, ts=T0 - 1, kind=EVENT_KIND, subject=result.process_id,
                     summary=result.summary(), detail=ConfigReloadEvent.model_validate(detail))


def applied(id: int, **kw) -> EventView:
    return reload_event(id, ReloadResult(ok=True, source="axtui.toml", by="sighup",
                                         process_id="serve-vm-41", changed=True, **kw))


def with_events(*events: EventView):
    return frame(make_snapshot(events=tuple(events)))


def toasts(app: ConsoleApp) -> list[tuple[str, str, str]]:
    return [(n.title, n.severity, str(n.message)) for n in app._notifications]


async def test_a_reload_after_the_console_started_is_shown_with_its_process_and_summary():
    app = ConsoleApp(live=False, clock=lambda: T0)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(with_events())
        app.apply_frame(with_events(applied(5)))
        await pilot.pause()
        assert toasts(app) == [("config reloaded", "information",
                                "serve-vm-41: config reload from axtui.toml applied (by sighup)")]


async def test_a_refused_reload_is_an_error_toast_naming_what_was_wrong():
    app = ConsoleApp(live=False, clock=lambda: T0)
    refused = reload_event(6, ReloadResult(ok=False, source="axtui.toml", by="api",
                                           process_id="serve-vm-41",
                                           errors=["routes.chat.candidates: unknown deployment "
                                                   "'x/y'"]))
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(with_events())
        app.apply_frame(with_events(refused))
        await pilot.pause()
        [(title, severity, message)] = toasts(app)
        assert (title, severity) == ("config reload refused", "error")
        assert "unknown deployment 'x/y'" in message


async def test_a_reload_waiting_for_a_restart_is_a_warning_and_each_reload_is_told_once():
    app = ConsoleApp(live=False, clock=lambda: T0)
    waits = applied(7, restart_required={"alerting": "set when the evaluator starts"})
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(with_events())
        app.apply_frame(with_events(waits))
        app.apply_frame(with_events(waits))  # the next frame carries it again
        await pilot.pause()
        [(title, severity, message)] = toasts(app)
        assert severity == "warning" and "waiting for a restart: alerting" in message


async def test_reloads_before_the_first_frame_are_not_announced():
    app = ConsoleApp(live=False, clock=lambda: T0)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_frame(with_events(applied(3), applied(2)))
        await pilot.pause()
        assert toasts(app) == []


def test_the_snapshot_types_a_stored_reload_event(tmp_path):
    from axtui.config import load_config
    from axtui.store.db import open_store

    result = ReloadResult(ok=True, source="axtui.toml", by="api", process_id="serve-1",
                          changed=True, diff={"routes": {"added": ["chat-b"]}})
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.add_event(EVENT_KIND, "serve-1", {"summary": result.summary(),
                                                **result.as_dict()})
        snap = build_snapshot(store, load_config())
    [event] = [e for e in snap.events if e.kind == EVENT_KIND]
    assert isinstance(event.detail, ConfigReloadEvent) and event.detail.ok
    assert event.summary == "config_reload serve-1: config reload from axtui.toml applied (by api)"
    assert snap.problems == ()
