"""tests/store/test_process_recorder.py, every test, against a real PostgreSQL server."""

from __future__ import annotations

import pytest

from axtui.store.process_recorder import ProcessRecorder
from tests.store.factory import record
from tests.store.test_process_recorder import *  # noqa: F403  (the same specification)


@pytest.fixture
def url(pg_url):  # noqa: F811  (replaces the module's SQLite file)
    return pg_url


def test_a_clean_close_leaves_no_ring_behind(url):
    # a server store keeps its rings in a directory named for its URL under the temp dir
    with ProcessRecorder(url) as recorder:
        recorder.submit(record())
        path = recorder.handoff_path
        assert path.exists() and path.parent.name.startswith("axtui-handoff-")
    assert not path.exists()
