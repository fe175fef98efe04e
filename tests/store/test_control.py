"""The control plane (versioned entries every engine polls) and the event log."""

from __future__ import annotations

import pytest

from axtui.clock import VirtualClock
from axtui.store import open_store
from axtui.store.control import ControlConflict


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'axtui.db'}"


@pytest.fixture
def store(url, clock):
    s = open_store(url, clock=clock)
    yield s
    s.close()


def test_every_control_write_moves_the_version_and_stamps_the_entry(store, clock):
    assert store.control_version() == 0
    assert store.control_snapshot().entries == {}
    v1 = store.set_control("flag:new-router", {"percent": 5}, by="alice")
    clock.advance(10)
    v2 = store.set_control("drain:groq/llama", {"reason": "429 storm"}, by="bob")
    assert (v1, v2) == (1, 2) and store.control_version() == 2
    entry = store.get_control("flag:new-router")
    assert (entry.value, entry.version, entry.updated_by) == ({"percent": 5}, 1, "alice")
    assert store.get_control("drain:groq/llama").updated_at == clock.now()
    snap = store.control_snapshot()
    assert snap.version == 2 and set(snap.entries) == {"flag:new-router", "drain:groq/llama"}


def test_overwriting_an_entry_gives_it_the_new_version(store):
    store.set_control("flag:x", {"percent": 5}, by="a")
    store.set_control("flag:y", {"percent": 1}, by="a")
    assert store.set_control("flag:x", {"percent": 25}, by="b") == 3
    entry = store.get_control("flag:x")
    assert (entry.value, entry.version, entry.updated_by) == ({"percent": 25}, 3, "b")


def test_a_compare_and_set_that_lost_changes_nothing(store):
    v = store.set_control("flag:x", {"percent": 5}, by="a")
    store.set_control("flag:x", {"percent": 10}, by="b")
    with pytest.raises(ControlConflict, match="expected 1"):
        store.set_control("flag:x", {"percent": 50}, by="a", expected_version=v)
    assert store.get_control("flag:x").value == {"percent": 10}
    assert store.control_version() == 2  # the losing write did not move the version
    with pytest.raises(ControlConflict):
        store.set_control("flag:x", {}, by="a", expected_version=0)  # 0: must be new
    assert store.set_control("flag:new", {}, by="a", expected_version=0) == 3


def test_deleting_an_entry_moves_the_version(store):
    store.set_control("kill:flag:x", True, by="oncall")
    assert store.delete_control("kill:flag:x") is True
    assert store.control_version() == 2 and store.get_control("kill:flag:x") is None
    assert store.delete_control("kill:flag:x") is False
    assert store.control_version() == 2


def test_another_store_on_the_same_file_sees_control_changes(url, store):
    with open_store(url) as other:
        before = other.control_version()
        store.set_control("drain:a/cheap", {"until": None}, by="console")
        assert other.control_version() == before + 1
        assert other.control_snapshot().entries["drain:a/cheap"].value == {"until": None}


def test_events_are_logged_and_listed_newest_first(store, clock):
    first = store.add_event("budget_threshold", "route:chat", {"percent": 80})
    clock.advance(5)
    store.add_event("breaker", "groq/llama", {"state": "open"})
    clock.advance(5)
    store.add_event("breaker", "groq/llama", {"state": "half_open"})
    listed = store.events()
    assert [e.detail.get("state") for e in listed] == ["half_open", "open", None]
    assert listed[-1].id == first and listed[-1].detail == {"percent": 80}
    assert [e.kind for e in store.events(kind="budget_threshold")] == ["budget_threshold"]
    assert len(store.events(subject="groq/llama", since_ts=clock.now() - 4)) == 1
    assert len(store.events(limit=2)) == 2
    tail = store.events_after(first)
    assert [e.detail["state"] for e in tail] == ["open", "half_open"]
    assert store.events_after(tail[-1].id) == []
